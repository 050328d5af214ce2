"""A simulated candlecast (``run.py --simulate``) in a process of its own, and what the
benchmarks read about it from outside: CPU, RSS and thread count from /proc, JSON over REST.

The ports are picked free beforehand and passed as flags, so the daemon can log at any level;
it is ready once ``ready_path`` answers 200, i.e. a candle has closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 30.0


@dataclasses.dataclass
class Daemon:
    host: str
    http_port: int
    ws_port: int
    process: subprocess.Popen[str]
    log: list[str]
    """Every line the daemon wrote (stdout and stderr), as it arrives."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self, path: str, timeout_s: float = 5.0) -> int:
        return request(self.host, self.http_port, path, timeout_s)[0]

    def get_json(self, path: str, timeout_s: float = 5.0) -> Any:
        status, body = request(self.host, self.http_port, path, timeout_s)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        return json.loads(body)


def request(host: str, port: int, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def candlecast(
    flags: Sequence[str] = (), ready_path: str = "/ohlc/BTCUSDT", ready_timeout_s: float = 20.0, cpus: str = ""
) -> Iterator[Daemon]:
    """A simulated candlecast, up and with a candle to serve; ``flags`` come last, so they win."""
    http_port, ws_port = free_port(), free_port()
    command = [
        sys.executable,
        "run.py",
        "--simulate",
        "--host",
        HOST,
        "--http-port",
        str(http_port),
        "--ws-port",
        str(ws_port),
        "--rate-limit",
        "",
        "--log-format",
        "json",
        *flags,
    ]
    with serving(command, http_port, ws_port, ready_path, ready_timeout_s=ready_timeout_s, cpus=cpus) as server:
        yield server


@contextlib.contextmanager
def serving(
    command: Sequence[str],
    http_port: int,
    ws_port: int,
    ready_path: str,
    *,
    ready_timeout_s: float = 20.0,
    cpus: str = "",
) -> Iterator[Daemon]:
    """Any HTTP server ``command`` run from the project root, up once ``ready_path`` answers 200;
    with ``cpus`` (taskset's list, e.g. "1") its threads run on those CPUs only."""
    if cpus:
        command = ["taskset", "--cpu-list", cpus, *command]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    daemon = Daemon(HOST, http_port, ws_port, process, [])
    # Keep reading its log, or a full pipe would stall the server.
    assert process.stdout is not None
    threading.Thread(target=_collect, args=(process.stdout, daemon.log), daemon=True).start()
    try:
        _wait_ready(daemon, ready_path, ready_timeout_s)
        yield daemon
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def _wait_ready(daemon: Daemon, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if daemon.process.poll() is not None:
            tail = "\n".join(daemon.log[-20:])
            raise RuntimeError(f"{' '.join(daemon.process.args)} exited with {daemon.process.returncode}:\n{tail}")
        with contextlib.suppress(OSError):
            if daemon.status(path) == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"GET {path} did not answer 200 within {timeout_s:g} s")
        time.sleep(0.2)


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process, all its threads."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent on anything but idling, all cores, since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    return int(_stat_fields(pid)[21]) * os.sysconf("SC_PAGE_SIZE")


def thread_count(pid: int) -> int:
    return int(_stat_fields(pid)[17])
