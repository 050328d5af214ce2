"""The broadcaster publishes a second's candles the moment its last symbol closes it, without
waiting for its tick; a second some symbol has yet to close waits (for the tick's linger). A
candle of a symbol already removed (its aggregator was still closing it) reaches no one and
holds no second. A client whose ``since`` reaches before memory waits for the stored candles
and gets them, then the live stream, each second once, its commands after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from candlecast.actors.broadcaster import BroadcasterActor, ClientLimits
from candlecast.actors.history_reader import HistoryReaderActor
from candlecast.candles.series import empty_candle
from candlecast.fanout import subscriptions
from candlecast.history.sqlite import SqliteStore
from candlecast.market_data import Candle
from candlecast.messages.fanout import (
    ChangeSubscriptions,
    ClientConnected,
    GetBroadcastStats,
    Publish,
    Regroup,
    ReplayTo,
    WriteTo,
)
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from tests.clients import wait_for
from tests.recorder import Recorder

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
SECOND = 1_795_836_601
PRICE = Decimal("43012.15")
NEVER_S = 3600.0  # the tick: never within a test
ASK_TIMEOUT_S = 5.0


@pytest.fixture
def writer() -> Iterator[Any]:
    recorder = Recorder.start(Publish)
    yield recorder
    recorder.stop()  # the broadcaster stopped it already, unless the test failed first


LIMITS = ClientLimits(
    max_clients=10, max_clients_per_address=10, max_subscriptions=10, backlog_bytes=1 << 20, stall_timeout_s=10.0
)


@pytest.fixture
def broadcaster(writer: Any) -> Iterator[Any]:
    ref = BroadcasterActor.start(LIMITS, candle_linger_s=NEVER_S, start_writer=lambda index, _: writer, tick_s=NEVER_S)
    for symbol in SYMBOLS:
        ref.tell(SymbolActivated(symbol))
    ref.tell(ClientConnected(1, None, "127.0.0.1", subscriptions.pairs(list(SYMBOLS), [subscriptions.CANDLE])))
    yield ref
    ref.stop()


def published(broadcaster: Any, writer: Any) -> list[list[tuple[str, int]]]:
    """(symbol, open time) of the candles in each publish so far, once the broadcaster has
    handled everything told before: its Publish reaches the writer before this ask does."""
    broadcaster.ask(GetBroadcastStats(), timeout=ASK_TIMEOUT_S)
    publishes = writer.ask("publishes", timeout=ASK_TIMEOUT_S)
    return [
        [
            (event["symbol"], event["open_time"])
            for event in map(json.loads, (out.text for group in p.groups for out in group.frames))
        ]
        for p in publishes
    ]


def close(broadcaster: Any, second: int, symbols: tuple[str, ...] = SYMBOLS) -> None:
    for symbol in symbols:
        broadcaster.tell(empty_candle(symbol, second, PRICE))


def test_a_second_goes_out_when_its_last_symbol_closes_it(broadcaster: Any, writer: Any) -> None:
    close(broadcaster, SECOND)  # every symbol's first candle: the set of symbols is known from here on
    assert published(broadcaster, writer) == [], "a symbol's first candle completes nothing"

    close(broadcaster, SECOND + 1, SYMBOLS[:-1])
    assert published(broadcaster, writer) == [], "SOLUSDT has not closed the second yet"

    close(broadcaster, SECOND + 1, SYMBOLS[-1:])
    at = (SECOND + 1) * 1000
    assert published(broadcaster, writer) == [[(s, SECOND * 1000) for s in SYMBOLS] + [(s, at) for s in SYMBOLS]]


def test_a_symbol_removed_no_longer_holds_a_second(broadcaster: Any, writer: Any) -> None:
    close(broadcaster, SECOND)
    broadcaster.tell(SymbolDeactivated(symbol="SOLUSDT"))
    close(broadcaster, SECOND + 1, SYMBOLS[-1:])  # its aggregator, stopping, closed one more second
    assert published(broadcaster, writer) == []
    close(broadcaster, SECOND + 1, SYMBOLS[:-1])
    seconds = [event for publish in published(broadcaster, writer) for event in publish]
    assert ("SOLUSDT", (SECOND + 1) * 1000) not in seconds, "for no one: its symbol is gone"
    assert seconds[-2:] == [("BTCUSDT", (SECOND + 1) * 1000), ("ETHUSDT", (SECOND + 1) * 1000)]

    close(broadcaster, SECOND + 2, SYMBOLS[:-1])
    assert published(broadcaster, writer)[-1] == [(s, (SECOND + 2) * 1000) for s in SYMBOLS[:-1]], (
        "the late candle left nothing behind to wait for"
    )


def stream_of(client_id: int, told: list[Any]) -> list[Any]:
    """What the writer would send client ``client_id``, in order: (symbol, open time) of each
    candle, published to its group or replayed, and the type and id of each reply."""
    group = None
    stream: list[Any] = []
    for message in told:
        match message:
            case Regroup(client_id=to, group=new) if to == client_id:
                group = new
            case Publish(groups=groups):
                frames = [out for published in groups if published.group == group for out in published.frames]
                stream += [(event["symbol"], event["open_time"]) for event in (json.loads(f.text) for f in frames)]
            case ReplayTo(client_id=to, candles=candles) if to == client_id:
                stream += [(candle.symbol, candle.open_time) for candle in candles]
            case WriteTo(client_id=to, frames=frames) if to == client_id:
                stream += [(reply["type"], reply["id"]) for reply in (json.loads(f.text) for f in frames)]
    return stream


@dataclass
class Remembering:
    """A broadcaster keeping 2 s in memory, the SQLite store its history reader reads, and the
    writer's recorder."""

    broadcaster: Any
    store: SqliteStore
    writer: Any

    def publish(self, candles: list[Candle]) -> None:
        """As the aggregator and the history writer do."""
        for candle in candles:
            self.broadcaster.tell(candle)
        self.store.write(candles)

    def stream_of(self, client_id: int) -> list[Any]:
        self.broadcaster.ask(GetBroadcastStats(), timeout=ASK_TIMEOUT_S)
        return stream_of(client_id, self.writer.ask("kept", timeout=ASK_TIMEOUT_S))


@pytest.fixture
def remembering(tmp_path: Path) -> Iterator[Remembering]:
    store = SqliteStore(tmp_path / "candles.sqlite3")
    reader = HistoryReaderActor.start(store=store)
    writer = Recorder.start((Publish, Regroup, ReplayTo, WriteTo))
    ref = BroadcasterActor.start(
        LIMITS,
        memory_seconds=2,
        history=reader,
        candle_linger_s=NEVER_S,
        start_writer=lambda index, _: writer,
        tick_s=NEVER_S,
    )
    ref.tell(SymbolActivated("BTCUSDT"))
    yield Remembering(ref, store, writer)
    ref.stop()
    reader.stop()
    store.close()


CANDLES = [empty_candle("BTCUSDT", second, PRICE) for second in range(SECOND, SECOND + 8)]
EVERY = [("BTCUSDT", candle.open_time) for candle in CANDLES]
BTC_CANDLES = subscriptions.pairs(["BTCUSDT"], [subscriptions.CANDLE])


def test_a_since_older_than_memory_is_replayed_from_the_store_then_live(remembering: Remembering) -> None:
    remembering.publish(CANDLES[:6])
    remembering.broadcaster.tell(ClientConnected(2, None, "127.0.0.1", BTC_CANDLES, since=SECOND * 1000))
    remembering.broadcaster.tell(ChangeSubscriptions(2, "list", frozenset(), request_id="after"))
    remembering.publish(CANDLES[6:7])  # live, while the store is read
    wait_for(lambda: ("subscriptions", "after") in remembering.stream_of(2))
    remembering.publish(CANDLES[7:])
    stream = remembering.stream_of(2)
    assert [item for item in stream if item[0] == "BTCUSDT"] == EVERY, "each second once, in order, no seam"
    acknowledged = stream.index(("subscribed", None))
    assert stream[acknowledged + 1 : acknowledged + 7] == EVERY[:6], "the replay follows the acknowledgement"
    assert stream.index(("subscriptions", "after")) > stream.index(EVERY[5]), "its command waited for the replay"


def test_a_subscribe_command_with_an_old_since_is_answered_once_the_store_is_read(remembering: Remembering) -> None:
    remembering.broadcaster.tell(ClientConnected(3, None, "127.0.0.1", BTC_CANDLES))
    remembering.publish(CANDLES[:6])
    remembering.broadcaster.tell(ChangeSubscriptions(3, "unsubscribe", BTC_CANDLES, request_id=1))
    remembering.publish(CANDLES[6:7])  # for no one: client 3 has unsubscribed
    command = ChangeSubscriptions(3, "subscribe", BTC_CANDLES, request_id=2, since=(SECOND + 1) * 1000)
    remembering.broadcaster.tell(command)
    wait_for(lambda: ("subscribed", 2) in remembering.stream_of(3))
    remembering.publish(CANDLES[7:])
    stream = remembering.stream_of(3)
    again = stream.index(("subscribed", 2))
    assert stream[again + 1 :] == EVERY[1:], "the missed seconds from since, then live"
