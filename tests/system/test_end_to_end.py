"""Simulator -> the whole system -> a WebSocket client: every candle equals the reference
computed from the simulator's own record of the trades it produced."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterator

import pytest

from candlecast.messages import Candle
from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for
from tests.reference import reference_candles

SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPETH")


def received_candles(client: WsClient, seconds: float) -> list[dict[str, Any]]:
    raw = []
    for message in client.collect(seconds):
        if message["type"] == "candle":
            raw.append(message)
    return raw


def exact(message: dict[str, Any]) -> dict[str, Any]:
    """Re-read a message with Decimal numbers, so a float artifact would show as a mismatch."""
    return json.loads(json.dumps(message), parse_float=Decimal)


def as_candle(message: dict[str, Any]) -> Candle:
    fields = {k: v for k, v in exact(message).items() if k not in ("type", "timestamp")}
    for name in ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume"):
        fields[name] = Decimal(fields[name])
    return Candle(**fields)


def assert_matches_reference(sim: Simulator, symbol: str, messages: list[dict[str, Any]]) -> list[Candle]:
    candles = [as_candle(m) for m in messages if m["symbol"] == symbol]
    assert candles, f"no candle for {symbol}"
    seconds = [c.open_time // 1000 for c in candles]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), f"{symbol}: each second exactly once"
    expected = reference_candles(sim.trades(symbol), seconds[0], seconds[-1])
    for got, want in zip(candles, expected, strict=True):
        assert got == want, f"{symbol} second {got.open_time}: {got} != {want}"
    return candles


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
        messages = received_candles(client, 15.0)
    finally:
        client.close()
    quiet = 0
    for symbol in SYMBOLS:
        candles = assert_matches_reference(sim, symbol, messages)
        assert len(candles) >= 10
        quiet += sum(1 for c in candles if c.trades == 0)
    assert quiet > 0, "the run must include quiet seconds (flat empty candles)"


def test_live_add_and_remove_while_streaming(three_symbols: tuple[Simulator, RunningSystem]) -> None:
    sim, running = three_symbols
    client = WsClient(running.ws_url)
    try:
        wait_for(lambda: request("GET", running.rest_url + "/symbols/available").status == 200)
        client.until(lambda m: m["type"] == "candle")
        assert request("POST", running.rest_url + "/add_symbol", '{"symbol": "solusdt"}').status == 200
        assert request("DELETE", running.rest_url + "/remove_symbol/ETHUSDT").status == 200
        client.collect(1.5)  # candles of ETHUSDT already in flight may still arrive
        messages = received_candles(client, 4.0)
    finally:
        client.close()
    assert {m["symbol"] for m in messages} == {"BTCUSDT", "XRPETH", "SOLUSDT"}
    assert_matches_reference(sim, "SOLUSDT", messages)
    health = request("GET", running.rest_url + "/health").json
    (connection,) = health["upstream"]["connections"]
    assert connection["state"] == "connected" and connection["symbols"] == ["BTCUSDT", "SOLUSDT", "XRPETH"]
    assert sim.connections_accepted == 1, "symbols were changed with SUBSCRIBE/UNSUBSCRIBE, not by reconnecting"
