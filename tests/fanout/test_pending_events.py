"""Candles and gap events wait in arrival order; a candle revised before it went out goes once,
at its newest revision and place."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from candlecast.candles.series import empty_candle
from candlecast.fanout.pending_events import PendingEvents
from candlecast.market_data import GapEvent


def gap(symbol: str) -> GapEvent:
    return GapEvent(symbol, "gap", 10, 12, 1_795_836_601_000, 1_795_836_602_000)


def test_a_revised_candle_goes_once_at_its_newest_place_and_gap_events_keep_theirs() -> None:
    pending = PendingEvents()
    btc, eth = empty_candle("BTCUSDT", 100, Decimal(1)), empty_candle("ETHUSDT", 100, Decimal(1))
    revised = msgspec.structs.replace(btc, revision=1)
    pending.candle(btc)
    pending.gap(gap("BTCUSDT"))
    pending.candle(eth)
    pending.gap(gap("BTCUSDT"))
    pending.candle(revised)
    assert list(pending.take()) == [gap("BTCUSDT"), eth, gap("BTCUSDT"), revised]
    assert list(pending.take()) == [], "nothing waits after"
