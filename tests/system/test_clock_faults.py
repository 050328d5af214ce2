"""A whole system whose exchange's clock is wrong: its readings are refused, /health and
/readyz say so, no candle goes out for a second that has not happened, and once the
exchange's clock agrees again it is used."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for
from tests.time_server import TimeServer, true_time

# The simulator and the system share this machine's clock: a candle can only arrive after its
# second ended, but for the time the client takes to note it. A wrong clock is seconds off.
NOTING_MS = 500


def clock_stats(system: RunningSystem) -> dict[str, Any]:
    return request("GET", system.rest_url + "/health").json["upstream"]["clock"]


def assert_candles_not_ahead(client: WsClient, count: int) -> None:
    """Read ``count`` candles: none for a second that had not ended when it arrived."""
    for _ in range(count):
        candle = client.until(lambda message: message["type"] == "candle", timeout=15)
        arrived_ms = time.time_ns() // 1_000_000
        assert candle["close_time"] < arrived_ms + NOTING_MS, (candle, arrived_ms)


def test_an_exchange_clock_20_s_ahead_is_refused_until_it_agrees_again() -> None:
    sim = make_simulator()
    sim.start()
    try:
        with TimeServer(sim.rest_url) as server:
            server.answer = true_time(20_000)
            running = start_system(settings_for(sim, rest_url=server.url))
            try:
                with contextlib.closing(WsClient(running.ws_url)) as client:
                    assert_candles_not_ahead(client, 6)  # they close on the local clock
                health = request("GET", running.rest_url + "/health").json
                refused = health["upstream"]["clock"]
                assert refused["in_sync"] is False and refused["offset_ms"] is None and refused["offsets_refused"] >= 1
                assert "exchange clock not in sync" in health["problems"]
                ready = request("GET", running.rest_url + "/readyz")
                assert ready.status == 503 and "exchange clock not in sync" in ready.json["detail"]
                server.answer = true_time()
                wait_for(lambda: clock_stats(running)["in_sync"], timeout=20)
                agreed = clock_stats(running)
                assert abs(agreed["offset_ms"]) < 1000 and agreed["last_sync_age_s"] is not None
                assert agreed["offsets_refused"] >= 1 and agreed["wall_clock_steps"] == 0
                with contextlib.closing(WsClient(running.ws_url)) as client:
                    assert_candles_not_ahead(client, 4)
            finally:
                running.stop()
    finally:
        sim.stop()


@pytest.mark.parametrize("local_clock_off_ms", [20_000, -20_000])
def test_a_local_clock_far_off_is_corrected_by_readings_the_trades_agree_with(local_clock_off_ms: int) -> None:
    """The exchange (its trades and its /api/v3/time alike) is 20 s from this machine's clock:
    readings are judged by the trades, so they are used, and candles close on the exchange's
    seconds, exact."""
    exchange_offset_ms = -local_clock_off_ms
    sim = make_simulator(symbols=("BTCUSDT",), trades_per_second=20.0, time_offset_ms=exchange_offset_ms)
    sim.start()
    try:
        running = start_system(settings_for(sim, symbols=("BTCUSDT",)))
        try:
            wait_for(lambda: clock_stats(running)["in_sync"], timeout=20)
            assert abs(clock_stats(running)["offset_ms"] - exchange_offset_ms) < 1000
            with contextlib.closing(WsClient(running.ws_url)) as client:
                client.until(lambda m: m["type"] == "candle" and m["trades"] > 0)
                for _ in range(5):
                    candle = client.until(lambda m: m["type"] == "candle", timeout=15)
                    exchange_now_ms = time.time_ns() // 1_000_000 + exchange_offset_ms
                    assert candle["close_time"] < exchange_now_ms + NOTING_MS, (candle, exchange_now_ms)
                client.collect(2.0)
                candles = final_candles(candles_of(client.received, "BTCUSDT"))
            assert_matches_reference(sim, "BTCUSDT", candles)
        finally:
            running.stop()
    finally:
        sim.stop()
