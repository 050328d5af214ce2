"""The upstream reader thread against the simulator on loopback: it connects with its routed
symbols in the URL, parses every trade exactly as the exchange published it into batches for
the symbol's aggregator and arrivals for the listeners, reconnects after the simulator drops or
stalls its socket, and a stop ends it without reporting an end."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pykka
import pytest

from candlecast.market_data import Trade, TradeBatch, TradesArrived
from candlecast.messages.clock import ReaderBehind
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.upstream import UpstreamConnected, UpstreamDisconnected
from candlecast.sim import Simulator
from candlecast.upstream.reader import UpstreamReader
from tests.clients import wait_for, wait_for_at_least
from tests.conftest import make_simulator
from tests.recorder import Recorder
from tests.upstream.reading import reader_options

SYMBOL = "BTCUSDT"
ASK_TIMEOUT_S = 2.0


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = make_simulator(symbols=(SYMBOL, "ETHUSDT"), trades_per_second=20.0)
    simulator.start()
    yield simulator
    simulator.stop()


@dataclasses.dataclass
class Reading:
    reader: UpstreamReader
    connection: pykka.ActorRef[Any]
    aggregator: pykka.ActorRef[Any]
    listener: pykka.ActorRef[Any]
    ended: list[ThreadEnded]

    def told_connection(self, kind: type) -> list[Any]:
        return [m for m in self.connection.ask("kept", timeout=ASK_TIMEOUT_S) if isinstance(m, kind)]

    def batched(self) -> list[Trade]:
        """Every trade the aggregator was told, in the order it was told them."""
        batches: list[TradeBatch] = self.aggregator.ask("kept", timeout=ASK_TIMEOUT_S)
        return [trade for batch in batches for trade in batch.trades]

    def arrived(self) -> list[Trade]:
        told: list[TradesArrived] = self.listener.ask("kept", timeout=ASK_TIMEOUT_S)
        return [trade for arrival in told for trade in arrival.trades]


@pytest.fixture
def reading(sim: Simulator) -> Iterator[Reading]:
    """A reader of ``SYMBOL`` that gives its socket up after a second without a frame."""
    connection = Recorder.start((UpstreamConnected, UpstreamDisconnected))
    aggregator, listener, clock = (
        Recorder.start(TradeBatch),
        Recorder.start(TradesArrived),
        Recorder.start(ReaderBehind),
    )
    options = reader_options(sim.stream_url, clock, stale_after_s=1.0, reconnect_cap_s=0.2, trade_listeners=(listener,))
    ended: list[ThreadEnded] = []
    reader = UpstreamReader(connection=connection, connection_id=1, reader_id=1, options=options, on_ended=ended.append)
    reader.routes = MappingProxyType({SYMBOL: aggregator})
    reader.start()
    yield Reading(reader, connection, aggregator, listener, ended)
    reader.stop()
    for ref in (connection, aggregator, listener, clock):
        ref.stop()


def connected(reading: Reading, times: int) -> list[UpstreamConnected]:
    return list(wait_for_at_least(times, lambda: reading.told_connection(UpstreamConnected)))


def test_it_connects_streaming_its_routed_symbols(reading: Reading) -> None:
    (first,) = connected(reading, 1)
    assert first.symbols == {SYMBOL} and first.reader_id == 1 and first.socket is not None
    assert reading.told_connection(UpstreamDisconnected) == []


def test_trades_reach_the_aggregator_and_the_listeners_exactly_as_published(sim: Simulator, reading: Reading) -> None:
    batched = list(wait_for_at_least(20, reading.batched))
    published = {trade.trade_id: trade for trade in sim.trades(SYMBOL)}
    assert [published[trade.trade_id] for trade in batched] == batched, "price, quantity, time and side exact"
    ids = [trade.trade_id for trade in batched]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "in id order, none missing"
    arrived = list(wait_for_at_least(len(batched), reading.arrived))
    assert arrived[: len(batched)] == batched, "the listeners see the same trades in arrival order"


@pytest.mark.parametrize("close_frame", [True, False])
def test_a_dropped_socket_is_reported_and_replaced(sim: Simulator, reading: Reading, close_frame: bool) -> None:
    connected(reading, 1)
    assert sim.drop_connections(close_frame=close_frame) == 1
    first, again = connected(reading, 2)
    (lost,) = reading.told_connection(UpstreamDisconnected)
    assert lost.reader_id == 1 and lost.reason.startswith("disconnected: ")
    assert again.symbols == {SYMBOL} and again.socket is not first.socket
    wait_for(lambda: sim.connections_accepted == 2)  # counted once its session joins the hub
    before = len(reading.batched())
    wait_for(lambda: len(reading.batched()) > before)
    assert reading.reader.is_alive() and reading.ended == []


def test_a_stalled_socket_is_given_up_once_stale_and_replaced(sim: Simulator, reading: Reading) -> None:
    connected(reading, 1)
    assert sim.stall_connections() == 1
    connected(reading, 2)
    (lost,) = reading.told_connection(UpstreamDisconnected)
    assert lost.reason == "disconnected: no frame for 1 s"


def test_a_stop_ends_the_thread_without_reporting_an_end_or_a_loss(reading: Reading) -> None:
    connected(reading, 1)
    reading.reader.stop()
    assert not reading.reader.is_alive()
    assert reading.ended == [] and reading.told_connection(UpstreamDisconnected) == []
