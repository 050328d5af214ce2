"""Fixtures and client helpers for the simulator's tests: real simulators on ephemeral
loopback ports, websocket-client connections as the production client makes them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websocket

from candlecast.market_data import Trade
from candlecast.sim import Simulator, SimulatorConfig
from tests.clients import wait_for_at_least

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance"
NAUTILUS_FILE = "nautilus_btcusdt_trades_2021-01-08.csv"
FREQTRADE_FILE = "freqtrade_XRPETH_trades_2019-10-11_13.csv"


@pytest.fixture
def trades_dir() -> Path:
    folder = DATA_DIR / "trades"
    if not folder.is_dir():
        pytest.skip(f"recorded Binance trades not found at {folder.resolve()} (the 'shared' folder beside the clone)")
    return folder


@pytest.fixture
def make_sim() -> Iterator[Any]:
    """Start simulators with config overrides; every one is stopped after the test."""
    started: list[Simulator] = []

    def make(**overrides: Any) -> Simulator:
        sim = Simulator(SimulatorConfig(**overrides))
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, skip_utf8_validation=True, timeout=5)


def request(ws: websocket.WebSocket, body: Any) -> dict[str, Any]:
    """Send a live request and return its reply, skipping trade frames that arrive meanwhile."""
    ws.send(body if isinstance(body, str) else json.dumps(body))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv())
        if "result" in frame or "error" in frame:
            return frame
    raise AssertionError("no reply within 5 s")


def receive_trades(
    ws: websocket.WebSocket, until: Callable[[Trade], bool], clock_offset_ms: int = 0
) -> list[tuple[Trade, int]]:
    """Combined-stream trades with their arrival time by the exchange clock, up to and
    including the first trade for which ``until`` holds."""
    received: list[tuple[Trade, int]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv())
        if "data" not in frame:
            continue
        trade = trade_of(frame["data"])
        received.append((trade, now_ms(clock_offset_ms)))
        if until(trade):
            return received
    raise AssertionError("trades stopped arriving")


def trade_of(event: dict[str, Any]) -> Trade:
    """A ``<symbol>@trade`` event read back into the Trade it was made from."""
    return Trade(event["s"], event["t"], Decimal(event["p"]), Decimal(event["q"]), event["T"], event["m"])


def wait_for_trades(sim: Simulator, symbol: str, count: int) -> tuple[Trade, ...]:
    return tuple(wait_for_at_least(count, lambda: sim.trades(symbol)))


def now_ms(offset_ms: int = 0) -> int:
    return time.time_ns() // 1_000_000 + offset_ms
