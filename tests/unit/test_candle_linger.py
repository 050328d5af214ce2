"""A group's candles wait for the rest of their second, at most the linger, and go together;
anything else takes them along in order."""

from __future__ import annotations

from candlecast.actors.candle_linger import NOT_A_CANDLE, CandleLinger
from candlecast.actors.consumer import CANDLE, OTHER, TRADE, Outbound

GROUP = "group"


def frame(name: str, kind: str = CANDLE) -> Outbound:
    return Outbound(name.encode(), name, kind, name)


def never(second: int) -> bool:
    return False


def always(second: int) -> bool:
    return True


def test_candles_wait_until_their_second_is_complete_then_go_together_in_order() -> None:
    linger = CandleLinger(1.0)
    btc, eth = frame("btc"), frame("eth")
    assert linger.take(GROUP, [(btc, 10)], now=0.0, complete=never) == ()
    asked: list[int] = []
    complete = lambda second: asked.append(second) or True  # noqa: E731
    assert linger.take(GROUP, [(eth, 10)], now=0.1, complete=complete) == (btc, eth)
    assert asked == [10]
    assert linger.due(now=1e9) == [], "nothing waits"


def test_candles_wait_at_most_the_linger() -> None:
    linger = CandleLinger(0.25)
    btc = frame("btc")
    assert linger.take(GROUP, [(btc, 10)], now=5.0, complete=never) == ()
    assert linger.take(GROUP, [], now=5.125, complete=never) == ()
    assert linger.take(GROUP, [], now=5.25, complete=never) == (btc,)
    assert linger.take(GROUP, [], now=5.5, complete=never) == ()


def test_the_clocks_closed_second_releases_what_waits_for_it_and_nothing_newer() -> None:
    linger = CandleLinger(1.0)
    old, new = frame("old"), frame("new")
    linger.take("a", [(old, 10)], now=0.0, complete=never)
    linger.take("b", [(new, 11)], now=0.0, complete=never)
    linger.close(10)
    assert linger.take("a", [], now=0.01, complete=never) == (old,)
    assert linger.take("b", [], now=0.01, complete=never) == ()
    assert linger.take(GROUP, [(frame("late"), 9)], now=0.01, complete=never) != (), "a closed second never waits"


def test_a_trade_or_gap_event_takes_the_waiting_candles_along_in_order() -> None:
    linger = CandleLinger(1.0)
    candle, trades, gap = frame("candle"), frame("trades", TRADE), frame("gap", OTHER)
    linger.take(GROUP, [(candle, 10)], now=0.0, complete=never)
    assert linger.take(GROUP, [(trades, NOT_A_CANDLE)], now=0.01, complete=never) == (candle, trades)
    linger.take(GROUP, [(candle, 11)], now=0.02, complete=never)
    assert linger.take(GROUP, [(gap, NOT_A_CANDLE), (frame("next"), 11)], now=0.03, complete=never)[:2] == (candle, gap)


def test_the_newest_waiting_second_decides_completeness() -> None:
    linger = CandleLinger(1.0)
    linger.take(GROUP, [(frame("a"), 10)], now=0.0, complete=never)
    asked: list[int] = []
    linger.take(GROUP, [(frame("b"), 11), (frame("c"), 10)], now=0.0, complete=lambda s: asked.append(s) or False)
    assert asked == [11]


def test_release_hands_over_what_waits() -> None:
    linger = CandleLinger(1.0)
    candle = frame("candle")
    linger.take(GROUP, [(candle, 10)], now=0.0, complete=never)
    assert linger.release(GROUP) == (candle,)
    assert linger.release(GROUP) == ()
    assert linger.due(now=1e9) == [], "nothing waits"


def test_no_linger_sends_everything_at_once() -> None:
    linger = CandleLinger(0.0)
    candle = frame("candle")
    assert linger.take(GROUP, [(candle, 10)], now=0.0, complete=never) == (candle,)
    assert linger.due(now=1e9) == [], "nothing waits"


def test_due_names_the_groups_that_waited_the_linger_oldest_first_and_every_one_after_a_close() -> None:
    linger = CandleLinger(0.25)
    for group, now in (("a", 0.0), ("b", 0.125), ("c", 0.1875)):
        linger.take(group, [(frame(group), 10)], now=now, complete=never)
    linger.take("a", [(frame("a2"), 10)], now=0.1875, complete=never)  # still waiting: it keeps its place
    assert linger.due(now=0.25) == ["a"]
    assert linger.due(now=0.375) == ["a", "b"]
    linger.close(10)
    assert linger.due(now=0.375) == ["a", "b", "c"]
    assert linger.due(now=0.375) == ["a", "b"], "a close is news once"
