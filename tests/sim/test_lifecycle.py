"""Starting and stopping: ports, clean shutdown with clients attached, the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pykka
import pytest
import websocket

from candlecast.sim import Simulator, SimulatorConfig
from tests.sim.conftest import connect

REPO = Path(__file__).resolve().parents[2]


def test_stop_closes_clients_and_joins_every_thread() -> None:
    before = set(threading.enumerate())
    sim = Simulator(SimulatorConfig(symbols=("BTCUSDT",), trades_per_second=50.0))
    sim.start()
    reading = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade")
    idle = connect(f"{sim.stream_url}/ws/btcusdt@trade")  # never reads: its outbox just fills
    try:
        reading.recv()
        stopping = threading.Thread(target=sim.stop, name="test-sim-stop")
        stopping.start()
        stopping.join(timeout=5)
        assert not stopping.is_alive(), "stop does not wait on a client that never reads"
        frames = []
        try:
            while True:
                frames.append(reading.recv_data(control_frame=True))
        except (OSError, websocket.WebSocketException):
            pass
        close_frames = [data for opcode, data in frames if opcode == websocket.ABNF.OPCODE_CLOSE]
        assert close_frames and int.from_bytes(close_frames[0][:2], "big") == 1001
    finally:
        reading.close()
        idle.close()
    sim.stop()  # idempotent
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []
    assert pykka.ActorRegistry.get_all() == []


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="NOPEUSDT"):
        Simulator(SimulatorConfig(symbols=("BTCUSDT", "NOPEUSDT")))
    with pytest.raises(ValueError, match="LUNAUSDT"):
        Simulator(SimulatorConfig(symbols=("LUNAUSDT",)))
    with pytest.raises(ValueError):
        SimulatorConfig(trades_per_second=0)
    with pytest.raises(ValueError):
        SimulatorConfig(kept_trades=0)
    with pytest.raises(RuntimeError):
        Simulator(SimulatorConfig()).rest_url  # noqa: B018


def read_start_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        event = json.loads(line)
        if event.get("event") == "simulator started":
            return event
    raise AssertionError("the simulator did not log its URLs")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_command_line_logs_its_urls_and_stops_on_a_signal(signum: int) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "candlecast.sim",
            "--rest-port",
            "0",
            "--ws-port",
            "0",
            "--seed",
            "3",
            "--log-format",
            "json",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        started = read_start_line(process)
        assert started["stream_url"].startswith("ws://127.0.0.1:")
        with urllib.request.urlopen(started["rest_url"] + "/api/v3/ping", timeout=5) as response:
            assert json.loads(response.read()) == {}
        process.send_signal(signum)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
