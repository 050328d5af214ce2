"""A second is complete once every symbol has closed it; only the candle that completes one
says so, and revisions or a removed symbol's absence never hold or repeat it."""

from __future__ import annotations

from candlecast.fanout.closed_seconds import ClosedSeconds


def test_the_last_symbol_to_close_a_second_completes_it() -> None:
    closed = ClosedSeconds()
    assert not closed.add("BTCUSDT", 10)
    assert not closed.add("ETHUSDT", 10), "first candles: nothing was waiting for them"
    assert closed.complete(10) and not closed.complete(11)

    assert not closed.add("ETHUSDT", 11)
    assert not closed.complete(11)
    assert closed.add("BTCUSDT", 11)
    assert closed.complete(11)


def test_revisions_and_older_seconds_complete_nothing() -> None:
    closed = ClosedSeconds()
    closed.add("BTCUSDT", 10)
    closed.add("ETHUSDT", 10)
    assert closed.add("BTCUSDT", 12) is False
    assert closed.add("ETHUSDT", 11), "11 is complete now, though 12 is not"
    assert not closed.add("ETHUSDT", 11), "a revision"
    assert not closed.add("BTCUSDT", 10), "an older second"
    assert closed.complete(11) and not closed.complete(12)


def test_a_symbol_forgotten_holds_no_second() -> None:
    closed = ClosedSeconds()
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        closed.add(symbol, 10)
    closed.add("BTCUSDT", 11)
    closed.add("ETHUSDT", 11)
    closed.forget("SOLUSDT")
    assert closed.complete(11)
    assert closed.add("BTCUSDT", 12) is False
    assert closed.add("ETHUSDT", 12)
    closed.forget("BTCUSDT")
    closed.forget("ETHUSDT")
    assert closed.complete(99), "no symbols: nothing to wait for"
