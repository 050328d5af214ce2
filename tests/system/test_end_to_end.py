"""Simulator -> the whole system -> a WebSocket client: every candle equals the reference
computed from the simulator's own record of the trades it produced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for

SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPETH")


@pytest.fixture
def three_symbols() -> Iterator[tuple[Simulator, RunningSystem]]:
    sim = make_simulator(seed=11, trades_per_second=6.0)
    sim.start()
    running = start_system(settings_for(sim, symbols=SYMBOLS, grace_ms=250))
    yield sim, running
    running.stop()
    sim.stop()


def test_candles_equal_reference_over_ten_seconds(three_symbols: tuple[Simulator, RunningSystem]) -> None:
    sim, running = three_symbols
    client = WsClient(running.ws_url)
    try:
        messages = client.collect(15.0)
    finally:
        client.close()
    quiet = 0
    for symbol in SYMBOLS:
        candles = candles_of(messages, symbol)
        assert [c.revision for c in candles] == [0] * len(candles), "a healthy stream needs no revision"
        assert_matches_reference(sim, symbol, candles)
        assert len(candles) >= 10
        quiet += sum(1 for c in candles if c.trades == 0)
    assert quiet > 0, "the run must include quiet seconds (flat empty candles)"
    clock = request("GET", running.rest_url + "/health").json["upstream"]["clock"]
    held_back = (clock["readers_behind"], clock["seconds_waiting"])
    assert held_back == (0, 0), "a stream read as it comes holds no second back"


def test_live_add_and_remove_while_streaming(three_symbols: tuple[Simulator, RunningSystem]) -> None:
    sim, running = three_symbols
    client = WsClient(running.ws_url)
    try:
        wait_for(lambda: request("GET", running.rest_url + "/symbols/available").status == 200)
        client.until(lambda m: m["type"] == "candle")
        assert request("POST", running.rest_url + "/add_symbol", '{"symbol": "solusdt"}').status == 200
        assert request("DELETE", running.rest_url + "/remove_symbol/ETHUSDT").status == 200
        client.collect(1.5)  # candles of ETHUSDT already in flight may still arrive
        messages = [m for m in client.collect(4.0) if m["type"] == "candle"]
    finally:
        client.close()
    assert {m["symbol"] for m in messages} == {"BTCUSDT", "XRPETH", "SOLUSDT"}
    assert_matches_reference(sim, "SOLUSDT", final_candles(candles_of(messages, "SOLUSDT")))
    health = request("GET", running.rest_url + "/health").json
    (connection,) = health["upstream"]["connections"]
    assert connection["state"] == "connected" and connection["symbols"] == ["BTCUSDT", "SOLUSDT", "XRPETH"]
    assert sim.connections_accepted == 1, "symbols were changed with SUBSCRIBE/UNSUBSCRIBE, not by reconnecting"
