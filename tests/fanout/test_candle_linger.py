"""A second's candles wait for each other until the second is complete, closed by the clock,
or the first has waited the linger, and go together in arrival order; anything else goes at
once."""

from __future__ import annotations

from candlecast.fanout.candle_linger import NOT_A_CANDLE, CandleLinger


def never(second: int) -> bool:
    return False


def test_candles_wait_until_their_second_is_complete_then_go_together_in_order() -> None:
    linger: CandleLinger[str] = CandleLinger(1.0)
    assert linger.take([("btc", 10)], now=0.0, complete=never) == []
    asked: list[int] = []
    assert linger.take([("eth", 10)], now=0.1, complete=lambda second: asked.append(second) or True) == ["btc", "eth"]
    assert asked == [10]
    assert linger.release() == [], "nothing waits"


def test_candles_wait_at_most_the_linger() -> None:
    linger: CandleLinger[str] = CandleLinger(0.25)
    assert linger.take([("btc", 10)], now=5.0, complete=never) == []
    assert linger.take([("eth", 10)], now=5.125, complete=never) == []
    assert linger.take([], now=5.25, complete=never) == ["btc", "eth"], "the first one's wait decides"
    assert linger.take([("sol", 11)], now=5.3, complete=never) == [], "a new wait begins"
    assert linger.take([], now=5.5, complete=never) == []
    assert linger.take([], now=5.55, complete=never) == ["sol"]


def test_the_clocks_closed_second_releases_what_waits_for_it_and_its_candles_never_wait() -> None:
    linger: CandleLinger[str] = CandleLinger(1.0)
    linger.take([("early", 10)], now=0.0, complete=never)
    linger.close(10)
    assert linger.take([("deadline", 10)], now=0.25, complete=never) == ["deadline", "early"]
    assert linger.take([("revised", 9)], now=0.3, complete=never) == ["revised"]


def test_the_newest_waiting_second_decides() -> None:
    linger: CandleLinger[str] = CandleLinger(1.0)
    linger.take([("a", 10)], now=0.0, complete=never)
    linger.close(10)
    asked: list[int] = []
    assert linger.take([("b", 11)], now=0.0, complete=lambda second: asked.append(second) or False) == []
    assert asked == [11], "a newer second waits although the older is closed"


def test_anything_else_goes_at_once_and_candles_keep_waiting() -> None:
    linger: CandleLinger[str] = CandleLinger(1.0)
    assert linger.take([("candle", 10), ("trades", NOT_A_CANDLE), ("gap", NOT_A_CANDLE)], now=0.0, complete=never) == [
        "trades",
        "gap",
    ]
    assert linger.release() == ["candle"]


def test_no_linger_sends_everything_at_once() -> None:
    linger: CandleLinger[str] = CandleLinger(0.0)
    assert linger.take([("btc", 10), ("eth", 10)], now=0.0, complete=never) == ["btc", "eth"]
