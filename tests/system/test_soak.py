"""Soak: 20 symbols at about 200 trades/s in all, every upstream connection dropped at random
every 5-15 s. After the last drop is repaired, every final candle equals the reference, no gap
was given up, Binance's limits were never hit, and threads and memory did not grow.

CI runs it for 20 s; ``CANDLECAST_SOAK_SECONDS=120 python -m pytest tests/system/test_soak.py``
runs the full two minutes.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from candlecast.sim import Simulator
from candlecast.sim.listing import LISTING, TRADING
from candlecast.system import start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for

SOAK_SECONDS = float(os.environ.get("CANDLECAST_SOAK_SECONDS", "20"))
SYMBOLS = tuple(spec.symbol for spec in LISTING if spec.status == TRADING)[:20]
TRADES_PER_SECOND = 10.0
# The simulator runs in this process and keeps every trade of the run for the reference (about
# 420 bytes each, measured): its growth is not the gateway's.
KEPT_TRADES = int(3 * TRADES_PER_SECOND * (SOAK_SECONDS + 120))
SIMULATOR_BYTES_PER_TRADE = 512


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def kept_trades(sim: Simulator) -> int:
    return sum(len(sim.trades(symbol)) for symbol in SYMBOLS)


def gaps_settled(rest_url: str) -> bool:
    upstream = request("GET", rest_url + "/health").json["upstream"]
    return upstream["backfill"]["pending"] == 0 and all(
        c["state"] == "connected" and c["gaps"]["open"] == 0 for c in upstream["connections"]
    )


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 120)
def test_random_drops_leave_every_candle_exact() -> None:
    assert len(SYMBOLS) == 20
    sim = make_simulator(symbols=SYMBOLS, trades_per_second=TRADES_PER_SECOND, seed=23, kept_trades=KEPT_TRADES)
    sim.start()
    running = start_system(settings_for(sim, symbols=SYMBOLS, streams_per_connection=5))
    client = WsClient(running.ws_url)
    rng = random.Random(23)
    try:
        client.until(lambda m: m["type"] == "candle" and m["trades"] > 0)
        client.collect(2.0)
        threads_before, rss_before, kept_before = threading.active_count(), rss_bytes(), kept_trades(sim)
        drops = 0
        deadline = time.monotonic() + SOAK_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            client.collect(min(left, rng.uniform(5.0, 15.0)))
            if time.monotonic() < deadline:
                sim.drop_connections(close_frame=rng.random() < 0.5)
                drops += 1
        wait_for(lambda: gaps_settled(running.rest_url), timeout=30.0, interval=0.5)
        client.collect(2.0)
        threads_after, rss_after, kept_after = threading.active_count(), rss_bytes(), kept_trades(sim)
        health = request("GET", running.rest_url + "/health").json
        client.close()
        assert drops >= 1
        for symbol in SYMBOLS:
            assert_matches_reference(sim, symbol, final_candles(candles_of(client.received, symbol)))
        connections = health["upstream"]["connections"]
        assert len(connections) == 4
        assert sum(c["gaps"]["unrecoverable"] for c in connections) == 0
        assert sum(c["gaps"]["opened"] for c in connections) >= len(SYMBOLS), "every drop opened gaps"
        assert sim.stats().throttle_disconnects == 0
        assert threads_after <= threads_before, f"threads grew from {threads_before} to {threads_after}"
        simulator_growth = (kept_after - kept_before) * SIMULATOR_BYTES_PER_TRADE
        grown = rss_after - rss_before - simulator_growth
        assert grown < 64 << 20, (
            f"RSS grew by {grown >> 20} MiB besides the simulator's {simulator_growth >> 20} MiB of trades"
        )
    finally:
        client.close()
        running.stop()
        sim.stop()
