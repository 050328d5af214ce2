"""LatestCandles as REST reads it: a body only for a subscribed symbol with a published candle,
and nothing left of a symbol once it is removed, even if it comes back."""

from __future__ import annotations

from candlecast.latest_candles import LatestCandles


def test_a_body_only_once_published_and_none_after_removal() -> None:
    latest = LatestCandles()
    assert latest.body("BTCUSDT") is None, "not subscribed"
    latest.add("BTCUSDT")
    assert latest.body("BTCUSDT") is None, "subscribed, no candle yet"
    latest.publish("BTCUSDT", b'{"open_time":1000}')
    latest.publish("BTCUSDT", b'{"open_time":2000}')
    assert latest.body("BTCUSDT") == b'{"open_time":2000}'
    latest.add("BTCUSDT")
    assert latest.body("BTCUSDT") == b'{"open_time":2000}', "added again while subscribed: kept"
    latest.add("ETHUSDT")
    latest.remove("BTCUSDT")
    assert latest.body("BTCUSDT") is None
    latest.add("BTCUSDT")
    assert latest.body("BTCUSDT") is None, "subscribed again: nothing of before"
    assert latest.body("ETHUSDT") is None

