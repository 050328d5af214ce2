"""Latest as REST reads it: a candle body or a trade only for a subscribed symbol once
published, the newest trade even when an older one comes late, and nothing left of a symbol
once it is removed, even if it comes back."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.store.latest import Latest


def test_a_candle_only_once_published_and_none_after_removal() -> None:
    latest = Latest()
    assert latest.candle("BTCUSDT") is None, "not subscribed"
    latest.add("BTCUSDT")
    assert latest.candle("BTCUSDT") is None, "subscribed, no candle yet"
    latest.publish_candle("BTCUSDT", b'{"open_time":1000}')
    latest.publish_candle("BTCUSDT", b'{"open_time":2000}')
    assert latest.candle("BTCUSDT") == b'{"open_time":2000}'
    latest.add("BTCUSDT")
    assert latest.candle("BTCUSDT") == b'{"open_time":2000}', "added again while subscribed: kept"
    latest.add("ETHUSDT")
    latest.remove("BTCUSDT")
    assert latest.candle("BTCUSDT") is None
    latest.add("BTCUSDT")
    assert latest.candle("BTCUSDT") is None, "subscribed again: nothing of before"
    assert latest.candle("ETHUSDT") is None


def trade(symbol: str, trade_id: int) -> Trade:
    return Trade(symbol, trade_id, Decimal("43012.15"), Decimal("0.001"), 1_795_836_601_000, buyer_is_maker=False)


def test_the_newest_trade_of_each_subscribed_symbol() -> None:
    latest = Latest()
    latest.add("BTCUSDT")
    assert latest.trade("BTCUSDT") is None, "subscribed, no trade yet"
    latest.publish_trades((trade("BTCUSDT", 7), trade("SOLUSDT", 9), trade("BTCUSDT", 8)))
    assert latest.trade("BTCUSDT") == trade("BTCUSDT", 8)
    assert latest.trade("SOLUSDT") is None, "not subscribed: not kept"
    latest.publish_trades((trade("BTCUSDT", 6),))
    assert latest.trade("BTCUSDT") == trade("BTCUSDT", 8), "an older trade arriving late"
    latest.remove("BTCUSDT")
    latest.add("BTCUSDT")
    assert latest.trade("BTCUSDT") is None, "subscribed again: nothing of before"
