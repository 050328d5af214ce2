"""run.py as an operator runs it: a real process, its log, its ports, its signals. A stop signal
ends it with code 0 within 5 s whatever it is doing; a second one ends it at once."""

from __future__ import annotations

import contextlib
import fcntl
import json
import resource
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from candlecast.actors.http_server import REST_CONNECTION_LIMIT
from candlecast.runtime.open_files import OTHER_DESCRIPTORS
from tests.clients import WsClient, request, wait_for
from tests.conftest import closed_port, make_simulator
from tests.daemon import ROOT
from tests.data_dirs import fresh_data_dir


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files line")


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
    assert request("GET", started["rest_url"] + "/symbols").json == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}
    daemon.stops_cleanly(signum)


def test_without_upstream_rest_answers_and_warnings_have_no_traceback(daemon_factory: Any) -> None:
    port = closed_port()
    daemon = daemon_factory(
        "--stream-url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}", "--reconnect-max-s", "0.5"
    )
    started = daemon.read_until("candlecast started")
    daemon.read_until("upstream unavailable, retrying")
    status = wait_for(lambda: request("GET", started["rest_url"] + "/").json)
    assert status["upstream"] == "disconnected"
    health = request("GET", started["rest_url"] + "/health").json
    assert health["status"] == "degraded" and not health["upstream"]["exchange_info_loaded"]
    assert request("GET", started["rest_url"] + "/symbols/available").status == 503
    daemon.read_until("upstream unavailable, retrying")  # and retrying again
    code, rest = daemon.stop(signal.SIGTERM)
    assert code == 0
    warnings = [json.loads(line) for line in rest.splitlines() if line.startswith("{")] + daemon.lines
    assert sum(1 for w in warnings if w.get("event") == "upstream unavailable, retrying") >= 2
    assert "Traceback" not in rest and not any("exception" in w for w in warnings)


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads the limit from /proc (Linux)")
def test_the_daemon_raises_its_open_files_limit_to_the_systems(daemon_factory: Any) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard open-files limit here is {hard}: nothing to raise to")
    clients = 1_000_000  # the most --ws-max-clients accepts
    if hard > clients + REST_CONNECTION_LIMIT + OTHER_DESCRIPTORS:
        pytest.skip(f"the hard open-files limit here ({hard}) is enough for {clients} clients")
    daemon = daemon_factory("--ws-max-clients", str(clients), open_files=256)
    raised = daemon.read_until("open files limit raised")
    assert raised["before"] == 256 and raised["after"] == hard
    assert open_files_limits(daemon.process.pid) == (hard, hard)
    warning = daemon.read_until("open files limit below what --ws-max-clients needs; clients past it are refused")
    assert warning["limit"] == hard and warning["ws_max_clients"] == clients
    code, _ = daemon.stop(signal.SIGTERM)
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
            [
                sys.executable,
                "run.py",
                "--simulate",
                "--host",
                "127.0.0.1",
                "--log-format",
                "json",
                "--data-dir",
                fresh_data_dir(),
                taken_flag,
                str(taken_port),
                other_flag,
                str(other_port),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr, finished.stderr
    errors = [json.loads(line) for line in finished.stderr.splitlines() if '"cannot start"' in line]
    assert len(errors) == 1 and f"127.0.0.1:{taken_port}" in errors[0]["error"], finished.stderr
    assert "Address already in use" in errors[0]["error"]


def test_a_stop_signal_ends_it_at_once_while_an_upgrade_request_is_still_arriving(daemon_factory: Any) -> None:
    daemon = daemon_factory("--simulate", "--ws-handshake-timeout-s", "60", "--ws-max-upgrades-per-ip", "1")
    started = daemon.read_until("candlecast started")
    with socket.create_connection(ws_address(started), timeout=5) as half:
        half.sendall(b"GET /ws HT")  # and waits
        # Accepted in order: a second connection finds the first counted in progress.
        assert refused_as_in_progress(ws_address(started)), "the half request is in progress on the server"
        daemon.stops_cleanly()


def test_a_stop_signal_ends_it_with_clients_that_stopped_reading(daemon_factory: Any) -> None:
    daemon = daemon_factory("--simulate", "--sim-trades-per-second", "500", "--ws-trade-interval-ms", "0")
    started = daemon.read_until("candlecast started")
    stalled = [WsClient(started["websocket_url"] + "/?channels=trade,candle", receive_buffer=1024) for _ in range(3)]
    try:
        wait_for(lambda: backlogged_clients(started) > 0, timeout=15)
        daemon.stops_cleanly(signal.SIGINT)
    finally:
        for client in stalled:
            client.close()


def test_a_stop_signal_ends_it_with_rest_requests_in_flight(daemon_factory: Any) -> None:
    """A request whose body is still arriving, and a client that pipelined long answers and
    reads none of them (waitress's worker waits to hand it more)."""
    daemon = daemon_factory("--simulate", "--rate-limit", "")
    started = daemon.read_until("candlecast started")
    wait_for(lambda: request("GET", started["rest_url"] + "/candles/BTCUSDT?limit=3600").json["count"] >= 2)
    address = rest_address(started)
    with socket.create_connection(address, timeout=5) as arriving, socket.socket() as not_reading:
        arriving.sendall(b'POST /add_symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"sym')
        not_reading.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        not_reading.connect(address)
        not_reading.setblocking(False)
        pipelined = b"GET /candles/BTCUSDT?limit=3600 HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
        with contextlib.suppress(BlockingIOError):
            while pipelined:
                pipelined = pipelined[not_reading.send(pipelined) :]
        wait_for(lambda: unread_bytes(not_reading) > 0)  # answers are coming, and left unread
        daemon.stops_cleanly()


def test_a_stop_signal_ends_it_while_upstream_hangs(daemon_factory: Any) -> None:
    """The exchange keeps its connection open and says nothing more."""
    simulator = make_simulator()
    simulator.start()
    try:
        daemon = daemon_factory("--stream-url", simulator.stream_url, "--rest-url", simulator.rest_url)
        daemon.read_until("upstream connected")
        wait_for(lambda: simulator.stall_connections() >= 1)
        time.sleep(0.5)
        daemon.stops_cleanly()
    finally:
        simulator.stop()


def test_a_stop_signal_ends_it_while_upstream_accepts_connections_and_never_answers(daemon_factory: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        daemon = daemon_factory("--stream-url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}")
        daemon.read_until("candlecast started")
        held = [silent.accept()[0] for _ in range(2)]  # the stream and the exchangeInfo request, both waiting
        try:
            daemon.stops_cleanly()
        finally:
            for connection in held:
                connection.close()


def test_a_second_stop_signal_exits_at_once_with_a_non_zero_code(daemon_factory: Any) -> None:
    daemon = daemon_factory("--simulate")
    daemon.read_until("candlecast started")
    code, rest = daemon.stop(signal.SIGINT, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, rest
    assert '"event": "second stop signal: exiting at once"' in rest and '"stopped"' not in rest


def test_a_stop_that_overruns_its_deadline_exits_naming_the_threads_still_running(daemon_factory: Any) -> None:
    daemon = daemon_factory("--simulate", "--shutdown-timeout-s", "0.001")
    daemon.read_until("candlecast started")
    code, rest = daemon.stop(signal.SIGTERM)
    assert code == 1, rest
    overran = [json.loads(line) for line in rest.splitlines() if "stop overran its deadline" in line]
    assert len(overran) == 1 and "MainThread" in overran[0]["threads"], rest


def refused_as_in_progress(address: tuple[str, int]) -> bool:
    """Whether a new connection from this address is answered 429 at once: its share of
    upgrade requests (one, in these tests) is in progress on the server."""
    with socket.create_connection(address, timeout=5) as probe:
        return probe.recv(1024).startswith(b"HTTP/1.1 429 ")


def unread_bytes(sock: socket.socket) -> int:
    return int.from_bytes(fcntl.ioctl(sock, termios.FIONREAD, bytes(4)), sys.byteorder)


def ws_address(started: dict[str, Any]) -> tuple[str, int]:
    host, port = started["websocket_url"].removeprefix("ws://").split(":")
    return host, int(port)


def rest_address(started: dict[str, Any]) -> tuple[str, int]:
    host, port = started["rest_url"].removeprefix("http://").split(":")
    return host, int(port)


def backlogged_clients(started: dict[str, Any]) -> int:
    return int(request("GET", started["rest_url"] + "/health").json["websocket"]["backlogged_clients"])
