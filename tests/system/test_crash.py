"""A daemon killed with SIGKILL while streaming: every candle it published to a WebSocket client
at least 2 s before the kill is on disk at its newest revision, and a restart on the same data
dir subscribes the symbols it had (added and removed at run time), not the ones on its command
line. The simulator runs in this process, so it keeps trading across the kill."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from candlecast.history.sqlite import SqliteStore
from candlecast.sim import Simulator
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator
from tests.data_dirs import fresh_data_dir

PUBLISHED_BEFORE_KILL_S = 2.0
STREAM_S = 8.0
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = make_simulator(trades_per_second=20.0)
    sim.start()
    yield sim
    sim.stop()


def start(daemon_factory: Any, sim: Simulator, data_dir: str, *symbols: str) -> Any:
    daemon = daemon_factory(
        "--stream-url",
        sim.stream_url,
        "--rest-url",
        sim.rest_url,
        "--data-dir",
        data_dir,
        "--symbols",
        ",".join(symbols),
    )
    return daemon, daemon.read_until("candlecast started")


def test_sigkill_loses_no_published_candle_and_a_restart_restores_the_symbols(
    daemon_factory: Any, simulator: Simulator
) -> None:
    data_dir = fresh_data_dir()
    daemon, started = start(daemon_factory, simulator, data_dir, "BTCUSDT", "ETHUSDT")
    rest = started["rest_url"]
    assert request("POST", rest + "/add_symbol", '{"symbol": "SOLUSDT"}', headers=JSON).status == 200
    assert request("DELETE", rest + "/remove_symbol/ETHUSDT").status == 200
    client = WsClient(started["websocket_url"] + "/?symbols=BTCUSDT,SOLUSDT&channels=candle")
    received: list[tuple[float, dict[str, Any]]] = []
    try:
        deadline = time.monotonic() + STREAM_S
        while time.monotonic() < deadline:
            message = client.next(timeout=5)
            if message["type"] == "candle":
                received.append((time.monotonic(), message))
        daemon.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        daemon.process.wait(timeout=10)
    finally:
        client.close()
    # The newest revision of each second published at least 2 s before the kill.
    expected: dict[tuple[str, int], dict[str, Any]] = {}
    for at, candle in received:
        key = (candle["symbol"], candle["open_time"])
        if at <= killed_at - PUBLISHED_BEFORE_KILL_S and candle["revision"] >= expected.get(key, candle)["revision"]:
            expected[key] = candle
    assert {symbol for symbol, _ in expected} == {"BTCUSDT", "SOLUSDT"}
    assert len(expected) >= 6

    history = SqliteStore(Path(data_dir) / "candles.sqlite3")
    try:
        for (symbol, open_time), candle in expected.items():
            [kept] = history.candles(symbol, open_time, open_time, 1)
            assert kept.revision >= candle["revision"], (symbol, open_time)
            if kept.revision == candle["revision"]:
                assert (kept.close, kept.volume, kept.trades) == (candle["close"], candle["volume"], candle["trades"])
        assert history.symbols() == ("BTCUSDT", "SOLUSDT")
    finally:
        history.close()

    _, restarted = start(daemon_factory, simulator, data_dir, "XRPUSDT")
    symbols = wait_for(lambda: request("GET", restarted["rest_url"] + "/symbols").json)
    assert symbols["symbols"] == ["BTCUSDT", "SOLUSDT"], "the symbols it had, not --symbols"
