"""The whole path, as a Binance client sees it: candles candlecast made from the simulator's live
trade stream and wrote to disk, read through candlecast's /api/v3/klines with a real Binance
client library, equal the simulator's own 1 s klines for the same seconds, built from its trade
record; every coarser interval is the roll-up of those seconds."""

from __future__ import annotations

import json
from typing import Any

from binance.spot import Spot

from candlecast.history.intervals import INTERVALS
from candlecast.history.klines import parse_rows, row
from candlecast.history.rollup import roll_up
from candlecast.system import RunningSystem
from tests.clients import wait_for

SYMBOL = "BTCUSDT"
SECONDS = 8


def test_klines_from_live_candles_equal_the_exchanges(system: RunningSystem) -> None:
    exchange = Spot(base_url=system.settings.rest_url, timeout=5)
    candlecast = Spot(base_url=system.rest_url, timeout=5)
    stored: list[list[Any]] = wait_for(
        lambda: len(rows := candlecast.klines(SYMBOL, "1s", limit=1000)) >= SECONDS and rows, timeout=30
    )
    first, last = stored[0][0], stored[-1][0]
    assert [row[0] for row in stored] == list(range(first, last + 1, 1000)), "every second, none missing"
    assert stored == exchange.klines(SYMBOL, "1s", startTime=first, endTime=last, limit=1000)
    # Coarser bars of the seconds candlecast holds: its roll-up of them, as Binance rolls up its own.
    held = parse_rows(SYMBOL, json.dumps(stored).encode())
    for name, interval in INTERVALS.items():
        ours = candlecast.klines(SYMBOL, name, startTime=interval.start_of(first), endTime=last)
        assert ours == [row(bar) for bar in roll_up(held, interval)], name
