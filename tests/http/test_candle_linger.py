"""With a candle linger, a client gets the candles of one second in one write, and clients
that join while candles wait still get every second exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import settings_for

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
URL_QUERY = "/?symbols=" + ",".join(s.lower() for s in SYMBOLS)
LINGER_MS = 1000


@pytest.fixture
def lingering(simulator: Simulator) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator, symbols=SYMBOLS, ws_candle_linger_ms=LINGER_MS))
    yield running
    running.stop()


def counters(system: RunningSystem) -> tuple[int, int]:
    websocket = request("GET", system.rest_url + "/health").json["websocket"]
    return websocket["delivered"], websocket["writes"]


def live_seconds(messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    seconds: dict[str, list[int]] = {symbol: [] for symbol in SYMBOLS}
    for message in messages:
        if message["type"] == "candle" and message["revision"] == 0:
            seconds[message["symbol"]].append(message["open_time"])
    return seconds


LIVE_SECONDS = 3


def seconds_of_every_symbol(client: WsClient) -> int:
    """The fewest live seconds any symbol has had so far."""
    return min(len(seconds) for seconds in live_seconds(client.received).values())


def test_the_candles_of_a_second_reach_a_client_in_one_write(lingering: RunningSystem) -> None:
    client = WsClient(lingering.ws_url + URL_QUERY)
    try:
        client.until(lambda m: m["type"] == "candle")
        client.collect(1.5)  # past the replay and the first live seconds
        delivered_before, writes_before = counters(lingering)
        received = client.collect(4.0)
        # The writers report their counters every 100 ms: wait until they count what arrived.
        delivered, writes = wait_for(
            lambda: (now := counters(lingering))[0] - delivered_before >= len(received) and now
        )
    finally:
        client.close()
    candles = [m for m in received if m["type"] == "candle"]
    assert len(candles) >= 3 * len(SYMBOLS), "four seconds of candles"
    delivered -= delivered_before
    writes -= writes_before
    assert delivered >= 3 * len(SYMBOLS)
    # One write per second carries all four symbols; a second cut by the window adds one.
    assert writes * 2 <= delivered, f"{delivered} candles in {writes} writes"


def test_clients_joining_while_candles_wait_get_every_second_once(lingering: RunningSystem) -> None:
    first = WsClient(lingering.ws_url + URL_QUERY)
    joined: list[WsClient] = []
    try:
        first.until(lambda m: m["type"] == "candle")
        for _ in range(8):  # at moments spread over a second's candles waiting and going
            time.sleep(0.13)
            joined.append(WsClient(lingering.ws_url + URL_QUERY))
        for client in [first, *joined]:
            client.until(lambda _, client=client: seconds_of_every_symbol(client) >= LIVE_SECONDS)
    finally:
        for client in [first, *joined]:
            client.close()
    for client in [first, *joined]:
        for symbol, seconds in live_seconds(client.received).items():
            assert seconds, f"{symbol}: candles"
            assert seconds == list(range(seconds[0], seconds[-1] + 1000, 1000)), f"{symbol}: each second once, in order"
