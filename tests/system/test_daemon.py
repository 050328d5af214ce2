"""run.py as an operator runs it: a real process, its log, its ports, its signals."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.clients import WsClient, request, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Daemon:
    def __init__(self, *args: str, open_files: int | None = None) -> None:
        """``open_files``: the soft open-file limit it starts with, as a system might set it."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "--http-port", "0", "--ws-port", "0", "--host", "127.0.0.1",
             "--log-format", "json", *args],
            cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            preexec_fn=None if open_files is None else lambda: lower_open_files(open_files),
        )
        self.lines: list[dict[str, Any]] = []

    def read_until(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            record = json.loads(line)
            self.lines.append(record)
            if record.get("event") == event:
                return record
        raise AssertionError(f"{event!r} not logged; got {[r.get('event') for r in self.lines]}")

    def stop(self, signum: int) -> tuple[int, float, str]:
        started = time.monotonic()
        self.process.send_signal(signum)
        _, rest = self.process.communicate(timeout=10)
        return self.process.returncode, time.monotonic() - started, rest


def lower_open_files(soft: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files line")


@pytest.fixture
def daemon_factory() -> Iterator[Any]:
    started: list[Daemon] = []

    def start(*args: str, open_files: int | None = None) -> Daemon:
        daemon = Daemon(*args, open_files=open_files)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_simulate_streams_candles_and_stops_cleanly(daemon_factory: Any, signum: int) -> None:
    daemon = daemon_factory("--simulate")
    started = daemon.read_until("candlecast started")
    client = WsClient(started["websocket_url"])
    try:
        candles = [client.until(lambda m: m["type"] == "candle", timeout=5) for _ in range(4)]
    finally:
        client.close()
    assert {c["symbol"] for c in candles} == {"BTCUSDT", "ETHUSDT"}
    assert request("GET", started["rest_url"] + "/symbols").json == {"symbols": ["BTCUSDT", "ETHUSDT"]}
    code, took, rest = daemon.stop(signum)
    assert code == 0 and took < 5.0, rest
    assert "Traceback" not in rest


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_without_upstream_rest_answers_and_warnings_have_no_traceback(daemon_factory: Any) -> None:
    port = closed_port()
    daemon = daemon_factory("--stream-url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}",
                            "--reconnect-max-s", "0.5")
    started = daemon.read_until("candlecast started")
    daemon.read_until("upstream unavailable, retrying")
    status = wait_for(lambda: request("GET", started["rest_url"] + "/").json)
    assert status["upstream"] == "disconnected"
    health = request("GET", started["rest_url"] + "/health").json
    assert health["status"] == "degraded" and not health["upstream"]["exchange_info_loaded"]
    assert request("GET", started["rest_url"] + "/symbols/available").status == 503
    time.sleep(1.5)
    code, _, rest = daemon.stop(signal.SIGTERM)
    assert code == 0
    warnings = [json.loads(line) for line in rest.splitlines() if line.startswith("{")] + daemon.lines
    assert sum(1 for w in warnings if w.get("event") == "upstream unavailable, retrying") >= 2
    assert "Traceback" not in rest and not any("exception" in w for w in warnings)


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads the limit from /proc (Linux)")
def test_the_daemon_raises_its_open_files_limit_to_the_systems(daemon_factory: Any) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard open-files limit here is {hard}: nothing to raise to")
    daemon = daemon_factory("--ws-max-clients", str(1 << 30), open_files=256)
    raised = daemon.read_until("open files limit raised")
    assert raised["before"] == 256 and raised["after"] == hard
    assert open_files_limits(daemon.process.pid) == (hard, hard)
    warning = daemon.read_until("open files limit below what --ws-max-clients needs; clients past it are refused")
    assert warning["limit"] == hard and warning["ws_max_clients"] == 1 << 30
    code, _, _ = daemon.stop(signal.SIGTERM)
    assert code == 0


@pytest.mark.parametrize("taken_flag", ["--http-port", "--ws-port"])
def test_a_port_already_taken_ends_the_start_with_an_error_naming_it(taken_flag: str) -> None:
    """No traceback: one error line naming the port, and exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        other_flag = "--ws-port" if taken_flag == "--http-port" else "--http-port"
        other_port = closed_port()
        finished = subprocess.run(
            [sys.executable, "run.py", "--simulate", "--host", "127.0.0.1", "--log-format", "json",
             taken_flag, str(taken_port), other_flag, str(other_port)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr, finished.stderr
    errors = [json.loads(line) for line in finished.stderr.splitlines() if '"cannot start"' in line]
    assert len(errors) == 1 and f"127.0.0.1:{taken_port}" in errors[0]["error"], finished.stderr
    assert "Address already in use" in errors[0]["error"]
