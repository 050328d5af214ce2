"""Downtime while the exchange trades, then a restart on the same data directory: the stored 1 s
candles have every second across the downtime, each at its newest revision equal to the candle
built from the simulator's own trade record; the newest seconds of the downtime rebuilt from
trades, the older ones from the exchange's klines (without trade ids); and /health shows the
catch-up finished. The downtime is 60 s (CANDLECAST_DOWNTIME_SECONDS sets another)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from candlecast.history.catchup import TRADES_REVISION
from candlecast.history.engines import open_store
from candlecast.market_data import Candle
from candlecast.sim import Simulator
from candlecast.system import start_system
from tests.clients import request, wait_for
from tests.conftest import settings_for
from tests.reference import reference_candles

SYMBOL = "BTCUSDT"
DOWNTIME_S = float(os.environ.get("CANDLECAST_DOWNTIME_SECONDS", "60"))
# The downtime's last seconds are rebuilt from trades, the ones before from klines.
REBUILT_S = 4


def stored_candles(data_dir: Path) -> list[Candle]:
    history = open_store("", data_dir)
    try:
        return history.candles(SYMBOL, 0, 2**62, 100_000)
    finally:
        history.close()


@pytest.mark.timeout(DOWNTIME_S + 180)
def test_a_restart_after_downtime_stores_every_second_exactly(busy: Simulator, tmp_path: Path) -> None:
    settings = settings_for(busy, symbols=(SYMBOL,), data_dir=str(tmp_path), backfill_window_s=REBUILT_S)
    first = start_system(settings)
    try:
        wait_for(lambda: len(stored_candles(tmp_path)) >= 3, timeout=20)
    finally:
        first.stop()
    stopped_at = stored_candles(tmp_path)[-1].open_time
    wait_for(lambda: busy.trades(SYMBOL)[-1].time >= stopped_at + DOWNTIME_S * 1000, timeout=DOWNTIME_S + 20)
    second = start_system(settings)
    try:

        def caught_up() -> dict[str, Any] | None:
            catchup: dict[str, Any] | None = request("GET", second.rest_url + "/health").json["catchup"]
            return catchup if catchup is not None and not catchup["running"] else None

        report = wait_for(caught_up, timeout=60)
    finally:
        second.stop()
    candles = stored_candles(tmp_path)
    assert report["done"] == report["total"] > 0

    seconds = [c.open_time // 1000 for c in candles]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), "every second once, none missing"
    sources = [c.source for c in candles]
    filled = [index for index, source in enumerate(sources) if source != "live"]
    assert candles[filled[0] - 1].open_time == stopped_at, "filled from the last second stored before the stop"
    downtime = sources[filled[0] : filled[-1] + 1]
    assert len(downtime) >= DOWNTIME_S
    assert downtime == ["klines"] * (len(downtime) - REBUILT_S) + ["trades"] * REBUILT_S
    assert set(sources[filled[-1] + 1 :]) == {"live"}, "then the live candles, without a seam"
    # Every second is the exchange's own at its newest revision; klines only lack the trade ids.
    expected = reference_candles(busy.trades(SYMBOL), seconds[0], seconds[-1])
    for got, want in zip(candles, expected, strict=True):
        ids = (-1, -1) if got.source == "klines" else (want.first_trade_id, want.last_trade_id)
        assert got.complete, f"{got.open_time} is flagged incomplete"
        assert got == msgspec.structs.replace(
            want, first_trade_id=ids[0], last_trade_id=ids[1], revision=got.revision, source=got.source
        ), f"{got} != {want}"
    assert {c.revision for c in candles if c.source == "trades"} == {TRADES_REVISION}
