"""A connection's reader thread whose loop ends is replaced like a lost socket (streams
interrupted, then resumed for the backfill), and past the restart limit the connection
reports itself failed; against the real simulator, with the fault injected where a reader
takes its turn to connect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from candlecast.actors.connection import ConnectionActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.market_data import TradeBatch
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.upstream import (
    ConnectionStateChanged,
    ConnectionStatus,
    StreamInterrupted,
    StreamResumed,
    UpstreamConnected,
    UpstreamDisconnected,
    Watch,
)
from candlecast.sim import Simulator
from candlecast.upstream.connect_attempts import ConnectAttempts
from candlecast.upstream.reader import UpstreamReader
from tests.clients import wait_for
from tests.conftest import make_simulator, settings_for
from tests.upstream.reading import reader_options

SYMBOL = "BTCUSDT"


class Recorder(pykka.ThreadingActor):
    """Keeps what it is told; ``"messages"`` asks for them."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "messages":
            return list(self.messages)
        self.messages.append(message)
        return None


class FailingAttempts(ConnectAttempts):
    """Connection turns that raise on the attempts numbered in ``failing`` (1 is the first)."""

    def __init__(self, failing: range) -> None:
        super().__init__("1000/second")
        self._failing = failing
        self._attempts = 0

    def wait_turn(self, stopped: threading.Event) -> float:
        self._attempts += 1
        if self._attempts in self._failing:
            raise RuntimeError("injected")
        return super().wait_turn(stopped)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = make_simulator(symbols=(SYMBOL,), trades_per_second=20.0)
    simulator.start()
    yield simulator
    simulator.stop()


def start(sim: Simulator, attempts: ConnectAttempts) -> tuple[Any, Any, Any]:
    registry, aggregator, clock = Recorder.start(), Recorder.start(), Recorder.start()
    connection = ConnectionActor.start(
        connection_id=1,
        settings=settings_for(sim),
        connect_attempts=attempts,
        registry=registry,
        trade_listeners=(),
        clock=clock,
        exchange_time=ExchangeTime(),
    )
    connection.tell(Watch(SYMBOL, aggregator))
    return connection, registry, aggregator


def last_state(registry: Any) -> ConnectionStatus | None:
    states = [m.status for m in registry.ask("messages") if isinstance(m, ConnectionStateChanged)]
    return states[-1] if states else None


def readers_alive() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("upstream-") and t.is_alive())


def test_a_reader_whose_loop_ends_is_replaced_and_its_streams_resume(sim: Simulator) -> None:
    connection, registry, aggregator = start(sim, FailingAttempts(range(2, 3)))
    wait_for(lambda: (state := last_state(registry)) is not None and state.state == "connected")
    sim.drop_connections()
    wait_for(lambda: readers_alive() == ["upstream-1.2"] and sim.connections_accepted == 2)
    wait_for(lambda: (state := last_state(registry)) is not None and state.state == "connected")
    assert last_state(registry).reader_restarts == 1
    told = aggregator.ask("messages")
    kinds = [type(m) for m in told if isinstance(m, (StreamInterrupted, StreamResumed))]
    assert kinds == [StreamInterrupted, StreamResumed]
    resumed_at = next(i for i, m in enumerate(told) if isinstance(m, StreamResumed))
    wait_for(lambda: any(isinstance(m, TradeBatch) for m in aggregator.ask("messages")[resumed_at:]))
    connection.stop()


def test_a_reader_that_keeps_ending_leaves_the_connection_failed(sim: Simulator) -> None:
    connection, registry, _ = start(sim, FailingAttempts(range(1, 1000)))
    wait_for(lambda: (state := last_state(registry)) is not None and state.state == "failed")
    state = last_state(registry)
    assert state is not None and state.reader_restarts == 5 and "RuntimeError: injected" in state.detail
    assert readers_alive() == []
    connection.stop()


class RoutesFailingOnce(dict):
    """Routes whose first lookup of a trade's symbol raises: a fault of ours inside a read."""

    def __init__(self, routes: dict[str, Any]) -> None:
        super().__init__(routes)
        self.failed = False

    def __contains__(self, symbol: object) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("injected")
        return super().__contains__(symbol)


def test_a_fault_while_handling_a_read_costs_the_socket_not_the_thread(sim: Simulator) -> None:
    connection, aggregator, clock = Recorder.start(), Recorder.start(), Recorder.start()
    options = reader_options(sim.stream_url, clock, stale_after_s=10.0, reconnect_cap_s=0.1)
    ended: list[ThreadEnded] = []
    reader = UpstreamReader(connection=connection, connection_id=1, reader_id=1, options=options, on_ended=ended.append)
    reader.routes = RoutesFailingOnce({SYMBOL: aggregator})
    reader.start()
    try:
        wait_for(lambda: len([m for m in connection.ask("messages") if isinstance(m, UpstreamConnected)]) == 2)
        (lost,) = [m for m in connection.ask("messages") if isinstance(m, UpstreamDisconnected)]
        assert lost.reason.startswith("disconnected: reader error: RuntimeError: injected")
        wait_for(lambda: any(isinstance(m, TradeBatch) for m in aggregator.ask("messages")))
        assert reader.is_alive() and ended == []
    finally:
        reader.stop()
