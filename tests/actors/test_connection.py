"""The connection actor against the simulator on loopback, with recording collaborators: a
watched symbol streams to its aggregator and the registry hears the state; symbols watched or
unwatched on a live socket are subscribed and unsubscribed without reconnecting; the last one
unwatched leaves it idle; a lost socket interrupts the streams until they resume; and the
server's shutdown notice rotates the socket make-before-break, interrupting nothing. Every
stream is confirmed to its aggregator with the exchange time after which it misses nothing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from candlecast.actors.connection import ConnectionActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.market_data import TradeBatch
from candlecast.messages.clock import ReaderBehind
from candlecast.messages.store import Barrier
from candlecast.messages.upstream import (
    ConnectionStateChanged,
    StreamInterrupted,
    StreamResumed,
    SubscriptionConfirmed,
    Unwatch,
    Watch,
)
from candlecast.sim import Simulator
from candlecast.upstream.connect_attempts import ConnectAttempts
from tests.clients import wait_for
from tests.conftest import make_simulator, settings_for
from tests.recorder import Recorder

ASK_TIMEOUT_S = 2.0
EXCHANGE_TIME = ExchangeTime()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = make_simulator(symbols=("BTCUSDT", "ETHUSDT"), trades_per_second=20.0)
    simulator.start()
    yield simulator
    simulator.stop()


@dataclasses.dataclass
class Connection:
    ref: pykka.ActorRef[Any]
    registry: pykka.ActorRef[Any]
    aggregators: dict[str, pykka.ActorRef[Any]]

    def watch(self, symbol: str) -> None:
        self.aggregators[symbol] = Recorder.start((TradeBatch, StreamInterrupted, StreamResumed, SubscriptionConfirmed))
        self.ref.tell(Watch(symbol=symbol, aggregator=self.aggregators[symbol]))

    def told(self, symbol: str, kind: type) -> list[Any]:
        kept = self.aggregators[symbol].ask("kept", timeout=ASK_TIMEOUT_S)
        return [m for m in kept if isinstance(m, kind)]

    def state(self) -> ConnectionStateChanged:
        states: list[ConnectionStateChanged] = self.registry.ask("kept", timeout=ASK_TIMEOUT_S)
        return states[-1]

    def until_state(self, holds: Callable[[ConnectionStateChanged], bool]) -> ConnectionStateChanged:
        def reached() -> ConnectionStateChanged | None:
            states: list[ConnectionStateChanged] = self.registry.ask("kept", timeout=ASK_TIMEOUT_S)
            return states[-1] if states and holds(states[-1]) else None

        state: ConnectionStateChanged = wait_for(reached)
        return state

    def streaming(self, symbol: str) -> None:
        """Until ``symbol``'s aggregator gets a batch it had not had yet."""
        before = len(self.told(symbol, TradeBatch))
        wait_for(lambda: len(self.told(symbol, TradeBatch)) > before)


@pytest.fixture
def connection(sim: Simulator) -> Iterator[Connection]:
    registry, clock = Recorder.start(ConnectionStateChanged), Recorder.start(ReaderBehind)
    settings = settings_for(sim, reconnect_max_s=0.2)
    ref = ConnectionActor.start(
        connection_id=1,
        settings=settings,
        connect_attempts=ConnectAttempts("1000/second"),
        registry=registry,
        trade_listeners=(),
        clock=clock,
        exchange_time=EXCHANGE_TIME,
    )
    started = Connection(ref, registry, {})
    yield started
    ref.stop()
    for other in (registry, clock, *started.aggregators.values()):
        other.stop()


def upstream_readers() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("upstream-1.") and t.is_alive())


def test_a_watched_symbol_streams_to_its_aggregator_and_the_registry_hears_it_connected(
    connection: Connection,
) -> None:
    connection.watch("BTCUSDT")
    state = connection.until_state(lambda s: s.status.state == "connected")
    assert (state.status.connection_id, state.status.streams, state.status.reconnects) == (1, 1, 0)
    connection.streaming("BTCUSDT")
    batches = connection.told("BTCUSDT", TradeBatch)
    assert {batch.symbol for batch in batches} == {"BTCUSDT"}
    assert connection.until_state(lambda s: s.last_frame_at is not None).status.state == "connected"


def test_symbols_watched_and_unwatched_on_a_live_socket_need_no_reconnect(
    sim: Simulator, connection: Connection
) -> None:
    connection.watch("BTCUSDT")
    connection.until_state(lambda s: s.status.state == "connected")
    connection.watch("ETHUSDT")
    connection.streaming("ETHUSDT")
    assert {batch.symbol for batch in connection.told("ETHUSDT", TradeBatch)} == {"ETHUSDT"}
    subscribed = connection.until_state(lambda s: s.status.streams == 2 and s.status.control_requests >= 2)
    connection.ref.tell(Unwatch(symbol="ETHUSDT"))
    connection.until_state(
        lambda s: s.status.streams == 1 and s.status.control_requests >= subscribed.status.control_requests + 2
    )
    connection.ref.ask(Barrier(), timeout=ASK_TIMEOUT_S)
    connection.streaming("BTCUSDT")  # a delivery begun before the change has ended
    delivered = len(connection.told("ETHUSDT", TradeBatch))
    for _ in range(2):
        connection.streaming("BTCUSDT")
    assert len(connection.told("ETHUSDT", TradeBatch)) == delivered, "nothing more for an unwatched symbol"
    state = connection.state()
    assert (state.status.state, state.status.reconnects, state.status.resubscribed) == ("connected", 0, 0)
    assert sim.connections_accepted == 1


def test_unwatching_the_last_symbol_leaves_the_connection_idle_without_a_reader(connection: Connection) -> None:
    connection.watch("BTCUSDT")
    connection.until_state(lambda s: s.status.state == "connected")
    connection.ref.tell(Unwatch(symbol="BTCUSDT"))
    state = connection.until_state(lambda s: s.status.state == "idle")
    assert state.status.streams == 0
    assert upstream_readers() == []


def test_a_lost_socket_interrupts_the_streams_until_they_resume(sim: Simulator, connection: Connection) -> None:
    connection.watch("BTCUSDT")
    connection.until_state(lambda s: s.status.state == "connected")
    connection.streaming("BTCUSDT")
    assert sim.drop_connections() == 1
    connection.until_state(lambda s: s.status.state == "connected" and s.status.reconnects == 1)
    changes = [type(m) for m in connection.told("BTCUSDT", (StreamInterrupted, StreamResumed))]
    assert changes == [StreamInterrupted, StreamResumed]
    connection.streaming("BTCUSDT")


def test_the_servers_shutdown_notice_rotates_the_socket_interrupting_nothing(
    sim: Simulator, connection: Connection
) -> None:
    connection.watch("BTCUSDT")
    connection.until_state(lambda s: s.status.state == "connected")
    connection.streaming("BTCUSDT")
    assert sim.server_shutdown(after_s=1.0) == 1
    connection.until_state(lambda s: s.status.rotations == 1)
    wait_for(lambda: upstream_readers() == ["upstream-1.2"])  # the first stopped once the second streams
    connection.streaming("BTCUSDT")
    assert connection.told("BTCUSDT", StreamInterrupted) == []
    state = connection.state()
    assert (state.status.state, state.status.reconnects) == ("connected", 0)


def test_a_stream_is_confirmed_by_the_sockets_opening_or_its_subscribe_reply_and_misses_nothing_after(
    sim: Simulator, connection: Connection
) -> None:
    before = EXCHANGE_TIME.monotonic_ms()
    connection.watch("BTCUSDT")
    (opened,) = wait_for(lambda: connection.told("BTCUSDT", SubscriptionConfirmed))
    connection.until_state(lambda s: s.status.state == "connected")
    between = EXCHANGE_TIME.monotonic_ms()
    connection.watch("ETHUSDT")
    (replied,) = wait_for(lambda: connection.told("ETHUSDT", SubscriptionConfirmed))
    assert before <= opened.confirmed_at_ms <= between <= replied.confirmed_at_ms <= EXCHANGE_TIME.monotonic_ms()
    assert connection.state().status.reconnects == 0
    for symbol, confirmed in (("BTCUSDT", opened), ("ETHUSDT", replied)):
        for _ in range(3):
            connection.streaming(symbol)
        delivered = [t.trade_id for batch in connection.told(symbol, TradeBatch) for t in batch.trades]
        confirmed_ms = confirmed.confirmed_at_ms + EXCHANGE_TIME.offset_ms
        since = [t.trade_id for t in sim.trades(symbol) if confirmed_ms <= t.time]
        assert set(since[: since.index(delivered[-1]) + 1]) <= set(delivered)
    assert sim.drop_connections() == 1
    connection.until_state(lambda s: s.status.state == "connected" and s.status.reconnects == 1)
    wait_for(lambda: len(connection.told("ETHUSDT", SubscriptionConfirmed)) == 2)
