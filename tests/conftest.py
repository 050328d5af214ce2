"""Shared fixtures: a real simulator and a real system on ephemeral loopback ports, a
loopback connection whose client reads late, and a check after every test that no actor or
thread was left running."""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from candlecast.settings import Settings
from candlecast.sim import Simulator, SimulatorConfig
from candlecast.system import RunningSystem, start_system
from tests.daemon import Daemon
from tests.data_dirs import DATA_ROOT, fresh_data_dir

pytest_plugins = ["tests.postgres"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance"


def shared_data(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"recorded Binance data not found at {path} (the shared/ folder beside the clone)")
    return path


HELD_DESCRIPTORS = 1100


@pytest.fixture(autouse=True, scope="session")
def remove_data_root() -> Iterator[None]:
    yield
    shutil.rmtree(DATA_ROOT, ignore_errors=True)


@pytest.fixture
def descriptors_past_1024() -> Iterator[None]:
    """Hold 1,100 open files, so sockets opened meanwhile get descriptors select() cannot watch,
    as in a process serving a thousand WebSocket clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < HELD_DESCRIPTORS + 100:
        if hard != resource.RLIM_INFINITY and hard < HELD_DESCRIPTORS + 100:
            pytest.skip(f"open files limited to {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (HELD_DESCRIPTORS + 100, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD_DESCRIPTORS)]
    try:
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    pykka.ActorRegistry.stop_all(timeout=5)
    deadline = time.monotonic() + 5
    while True:
        extra = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"


def make_simulator(**config: object) -> Simulator:
    options = {"host": "127.0.0.1", "rest_port": 0, "ws_port": 0, "seed": 7, "ping_interval": 20.0}
    options.update(config)
    return Simulator(SimulatorConfig(**options))


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = make_simulator()
    sim.start()
    yield sim
    sim.stop()


def settings_for(sim: Simulator, **overrides: object) -> Settings:
    base = Settings(
        host="127.0.0.1",
        http_port=0,
        ws_port=0,
        stream_url=sim.stream_url,
        rest_url=sim.rest_url,
        rate_limit="",
        log_format="console",
        data_dir=fresh_data_dir(),
        retention="0",  # tests write candles of fixed, long past seconds
    )
    return dataclasses.replace(base, **overrides)


def closed_port() -> int:
    """A loopback port nothing listens on (bound a moment, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def system(simulator: Simulator) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator))
    yield running
    running.stop()


@pytest.fixture
def late_reader() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection whose client reads only when told: (server side, non-blocking
    with a small send buffer; client side, a small receive buffer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    server.setblocking(False)
    yield server, client
    server.close()
    client.close()


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
