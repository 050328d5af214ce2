"""The broadcaster decides which WebSocket client gets what: it admits clients, keeps their
subscriptions, encodes each candle, gap event and trade batch into a frame once, and tells
every writer (``WriterActor``) a ``Publish`` of each subscription group's frames on its tick,
or at once when every symbol has closed a second; the writers write to the clients' sockets.
Replay and live stream come from this one mailbox, so nothing falls between them; a replay
reaching before the seconds kept in memory is read from the store by the history reader, and the
client's subscription waits for it. The parts are pure and live in ``candlecast.fanout``; this
actor receives the messages and wires them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pykka
from wsproto.frame_protocol import FrameProtocol

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.actors.writer import WriterActor
from candlecast.fanout import replies, subscriptions
from candlecast.fanout.admission import Admission
from candlecast.fanout.candle_linger import NOT_A_CANDLE, CandleLinger
from candlecast.fanout.closed_seconds import ClosedSeconds
from candlecast.fanout.frames import FrameKind, Outbound
from candlecast.fanout.groups import FanOut, SubscriptionGroups
from candlecast.fanout.held_replays import HeldReplay, HeldReplays, Refusal
from candlecast.fanout.outbox import replay_limit
from candlecast.fanout.pending_events import PendingEvents
from candlecast.fanout.recent_candles import RecentCandles
from candlecast.fanout.stats import FanOutStats
from candlecast.fanout.trade_pacing import TradePacing
from candlecast.http import encoding
from candlecast.http.close_codes import CloseCode
from candlecast.market_data import Candle, GapEvent, TradeBatch, TradesArrived
from candlecast.messages.clock import SecondElapsed
from candlecast.messages.fanout import (
    BroadcastTick,
    ChangeSubscriptions,
    ClientConnected,
    ClientControl,
    ClientEvicted,
    ClientGone,
    ClientNotice,
    CloseClient,
    DisconnectAll,
    GetBroadcastStats,
    Publish,
    Regroup,
    ReplayTo,
    UpgradeRefused,
    WriterCounters,
    WriterTick,
    WriteTo,
)
from candlecast.messages.history import CandleRange, CandlesRead, ReadCandles
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.runtime.supervision import Supervisor
from candlecast.runtime.ticker import Ticker

TICK_S = 0.01
# Writers report their counters every this many ticks: /health may lag 100 ms behind.
REPORT_TICKS = 10

# Starts writer ``index`` for the broadcaster; what it returns is told ``Publish``es and stopped with it.
WriterStart = Callable[[int, "pykka.ActorRef[Any]"], Any]
# What was read from the store for a replay, or why there is none; None: nothing was to be read.
StoredReplay = tuple[Candle, ...] | Refusal | None


@dataclasses.dataclass(frozen=True)
class ClientLimits:
    max_clients: int
    max_clients_per_address: int
    max_subscriptions: int
    backlog_bytes: int
    stall_timeout_s: float


class BroadcasterActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        limits: ClientLimits,
        *,
        memory_seconds: int = 3600,
        history: Any = None,
        trade_interval_s: float = 0.05,
        candle_linger_s: float = 0.0,
        writers: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        start_writer: WriterStart | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        super().__init__(actor="broadcaster")
        self._limits = limits
        self._monotonic = monotonic
        self._encoder = FrameProtocol(client=False, extensions=[])
        self._writer_count = writers
        self._start_writer = start_writer or self._start_writer_actor
        self._writers: list[pykka.ActorRef[Any]] = []
        self._admission = Admission(
            max_clients=limits.max_clients,
            max_clients_per_address=limits.max_clients_per_address,
            max_subscriptions=limits.max_subscriptions,
        )
        self._groups = SubscriptionGroups()
        self._pending = PendingEvents()
        self._outgoing: list[tuple[FanOut, int | None]] = []  # with its candle's second
        self._recent = RecentCandles(memory_seconds)
        self._history = history  # the history reader; None: memory holds every candle replayed
        self._held = HeldReplays()
        self._trades = TradePacing(trade_interval_s)
        self._linger: CandleLinger[FanOut] = CandleLinger(candle_linger_s)
        self._closed_seconds = ClosedSeconds()
        self._active: set[str] = set()  # symbols subscribed upstream: whose candles are for clients
        self._stats = FanOutStats()
        self.supervisor = Supervisor()
        self._tick_s = tick_s
        self._ticker = self._new_ticker()
        self._ticks = 0

    def on_start(self) -> None:
        self._writers = [self._start_writer(index, self.actor_ref) for index in range(self._writer_count)]
        self.supervisor.start(self._ticker)

    def _new_ticker(self) -> Ticker:
        return Ticker(
            "broadcast-tick",
            self._tick_s,
            self.actor_ref,
            BroadcastTick,
            on_ended=lambda ended: tell_if_alive(self.actor_ref, ended),
        )

    def _start_writer_actor(self, index: int, broadcaster: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
        return WriterActor.start(
            index,
            broadcaster,
            backlog_bytes=self._limits.backlog_bytes,
            stall_timeout_s=self._limits.stall_timeout_s,
            monotonic=self._monotonic,
        )

    def on_stop(self) -> None:
        self._ticker.stop()
        for writer in self._writers:
            writer.stop()

    def handle(self, message: Any) -> Any:  # noqa: PLR0912 (one case per message type)
        match message:
            case Candle(symbol=symbol) | GapEvent(symbol=symbol) if symbol not in self._active:
                pass  # sent by an aggregator stopping as its symbol was removed: for no one now
            case Candle():
                self._candle(message)
            case GapEvent():
                self._pending.gap(message)
            case SecondElapsed(second=second):
                self._linger.close(second)
            case TradesArrived(trades=trades):
                wanted = self._groups.symbols_wanted(subscriptions.TRADE)
                self._fan_out_trades(self._trades.arrived(trades, wanted, self._monotonic()))
            case BroadcastTick():
                self._publish()
                self._tick_writers()
            case SymbolActivated(symbol=symbol):
                self._active.add(symbol)
            case SymbolDeactivated(symbol=symbol):
                self._active.discard(symbol)
                self._recent.forget(symbol)
                self._closed_seconds.forget(symbol)
                self._trades.forget(symbol)
            case CandlesRead():
                self._history_read(message)
            case WriterCounters():
                self._stats.reported(message)
            case GetBroadcastStats():
                return self._stats.snapshot(clients=len(self._admission), cpu_s=time.thread_time())
            case ThreadEnded():
                self._ticker = self.supervisor.restart(message, self._ticker, self._new_ticker)
            case _:
                self._client_message(message)
        return None

    def _candle(self, candle: Candle) -> None:
        self._pending.candle(candle)
        if self._closed_seconds.add(candle.symbol, candle.open_time // 1000):
            self._publish()  # the last symbol closed this second: no need to wait for the tick

    def _client_message(self, message: Any) -> None:
        """What the WebSocket side tells about its clients. A client whose replay waits for the
        store has its commands and notices wait behind it."""
        if isinstance(message, ChangeSubscriptions | ClientNotice) and self._held.queue(message.client_id, message):
            return
        match message:
            case ClientConnected():
                self._connect(message)
            case ChangeSubscriptions():
                self._change(message)
            case ClientControl(client_id=client_id):
                self._writer(client_id).tell(message)
            case ClientNotice(client_id=client_id, text=text):
                self._write_text(client_id, text)
            case ClientGone(client_id=client_id, reason=reason):
                self._stats.gone(reason)
                if client_id in self._admission:
                    self._forget(client_id)
                self._writer(client_id).tell(message)
            case UpgradeRefused():
                self._stats.rejected("requests_in_progress")
            case ClientEvicted(client_id=client_id):
                self._stats.evicted += 1
                if client_id in self._admission:
                    self._forget(client_id)
            case DisconnectAll(code=code, reason=reason):
                clients = self._admission.clients()
                self.log.info("closing websocket clients", clients=len(clients), code=code, reason=reason)
                for client_id in clients:
                    self._close(client_id, code, reason)

    # --- clients -----------------------------------------------------------------------------

    def _writer(self, client_id: int) -> pykka.ActorRef[Any]:
        return self._writers[client_id % len(self._writers)]

    def _connect(self, joined: ClientConnected) -> None:
        client_id = joined.client_id
        self._writer(client_id).tell(joined)  # the writer takes the socket's writing half
        refusal = self._admission.admit(client_id, joined.peer, len(joined.subscriptions))
        if refusal is not None:
            self._stats.rejected(refusal.counter)
            self.log.info("websocket client refused", client_id=client_id, peer=joined.peer, reason=refusal.reason)
            self._close(client_id, refusal.code, refusal.reason)
            return
        self._groups.join(client_id, explicit=joined.subscriptions != subscriptions.DEFAULT)
        if not self._held_for_history(client_id, joined, joined.subscriptions, joined.since):
            self._start_streaming(joined, None)

    def _start_streaming(self, joined: ClientConnected, stored: StoredReplay) -> None:
        self._subscribe(joined.client_id, joined.subscriptions)
        if joined.subscriptions != subscriptions.DEFAULT:
            self._reply(joined.client_id, "subscribe", None)
        self._replay(joined.client_id, joined.subscriptions, joined.since, stored=stored)

    def _close(self, client_id: int, code: CloseCode, reason: str) -> None:
        """Close a client from our side; its writer holds the socket until the reader lets go."""
        self._forget(client_id)
        self._writer(client_id).tell(CloseClient(client_id, code, reason))

    def _forget(self, client_id: int) -> None:
        self._deliver(self._linger.release())  # published before it left: see _subscribe
        self._held.release(client_id)
        self._admission.leave(client_id)
        self._groups.leave(client_id)

    # --- subscriptions -----------------------------------------------------------------------

    def _subscribe(self, client_id: int, pairs: subscriptions.Pairs, explicit: bool | None = None) -> None:
        """Set the client's subscriptions, moving it to its new group."""
        # Candles waiting were published before the change (its replay has them): they go by
        # the subscriptions they were published under.
        self._deliver(self._linger.release())
        before = self._groups.group_of(client_id)
        after = self._groups.move(client_id, pairs, explicit=explicit)
        if after != before:
            self._writer(client_id).tell(Regroup(client_id, after))

    def _change(self, command: ChangeSubscriptions, stored: StoredReplay = None) -> None:
        client_id = command.client_id
        if client_id not in self._admission:
            return
        groups = self._groups
        added: subscriptions.Pairs = frozenset()
        if command.op == "subscribe":
            current = groups.subscriptions(client_id) if groups.explicit(client_id) else frozenset()
            if self._admission.too_many_subscriptions(len(current | command.pairs)):
                limit = self._admission.max_subscriptions
                self._write_text(client_id, replies.too_many_subscriptions(command.request_id, limit))
                return
            if stored is None and self._held_for_history(client_id, command, command.pairs, command.since):
                return
            added = command.pairs - current
            self._subscribe(client_id, current | command.pairs, explicit=True)
        elif command.op == "unsubscribe":
            self._subscribe(client_id, groups.subscriptions(client_id) - command.pairs, explicit=True)
        self._reply(client_id, command.op, command.request_id)
        if added or command.since is not None:
            pairs = added if command.since is None else command.pairs
            self._replay(client_id, pairs, command.since, request_id=command.request_id, stored=stored)

    def _reply(self, client_id: int, op: subscriptions.SubscriptionOp, request_id: Any) -> None:
        self._write_text(client_id, replies.acknowledgement(op, request_id, self._groups.subscriptions(client_id)))

    def _replay(
        self,
        client_id: int,
        pairs: subscriptions.Pairs,
        since: int | None,
        *,
        request_id: Any = None,
        stored: StoredReplay = None,
    ) -> None:
        """The latest closed candle of each symbol in ``pairs`` (or all since ``since``, with
        what was read from the store for it)."""
        most = replay_limit(self._limits.backlog_bytes)
        if stored == "history_unavailable":
            self._stats.rejected("history_unavailable")
            self._write_text(client_id, replies.history_unavailable(request_id, since))
            return
        replayed = None if stored == "replay_too_large" else self._recent.replay_for(pairs, since, most, stored)
        if replayed is None:
            self._stats.rejected("replay_too_large")
            self._write_text(client_id, replies.replay_too_large(request_id, since, most))
        elif replayed:
            self._writer(client_id).tell(ReplayTo(client_id, replayed))
            self._stats.replayed += len(replayed)

    def _held_for_history(
        self,
        client_id: int,
        resume: ClientConnected | ChangeSubscriptions,
        pairs: subscriptions.Pairs,
        since: int | None,
    ) -> bool:
        """Whether ``since`` reaches before what memory holds of an active symbol in ``pairs``:
        then the stored candles are asked for and ``resume`` waits for them."""
        if self._history is None or since is None:
            return False
        symbols = [symbol for symbol in self._recent.wanted_symbols(pairs, self._active) if symbol in self._active]
        ranges = self._recent.stored_ranges(symbols, since)
        if not ranges:
            return False
        self._read_history(self._held.hold(client_id, resume), ranges)
        return True

    def _read_history(self, held: HeldReplay, ranges: tuple[CandleRange, ...]) -> None:
        most = replay_limit(self._limits.backlog_bytes)
        request = self._held.ask(held, ranges)
        tell_if_alive(
            self._history,
            ReadCandles(request=request, ranges=ranges, limit=most - len(held.stored), reply_to=self.actor_ref),
        )

    def _history_read(self, read: CandlesRead) -> None:
        """Stored candles for a held client: ask for what left memory meanwhile, if anything
        did; else replay, and let the client's subscription and commands go on."""
        held = self._held.answered(read)
        if held is None:
            return  # the client left meanwhile
        stored: StoredReplay = tuple(held.stored)
        if read.error:
            self.log.warning("stored candles for a replay unavailable", client_id=held.client_id, error=read.error)
            stored = "history_unavailable"
        elif read.more:
            stored = "replay_too_large"
        elif gaps := self._recent.gaps_after(held.asked):
            self._read_history(held, gaps)
            return
        self._held.release(held.client_id)
        match held.resume:
            case ClientConnected():
                self._start_streaming(held.resume, stored)
            case ChangeSubscriptions():
                self._change(held.resume, stored)
        for message in held.queued:
            self._client_message(message)

    # --- delivery ----------------------------------------------------------------------------

    def _outbound(self, text: str, kind: FrameKind, symbol: str, trades: int = 0) -> Outbound:
        return Outbound(bytes(self._encoder.send_data(text, fin=True)), text, kind, symbol, trades)

    def _fan_out(
        self,
        channel: subscriptions.Channel,
        symbol: str,
        text: str,
        kind: FrameKind,
        *,
        explicit_only: bool = False,
        trades: int = 0,
        second: int | None = NOT_A_CANDLE,
    ) -> None:
        """Encode once now, if anyone wants it; published on the tick."""
        if self._groups.wants(symbol, channel):
            frame = self._outbound(text, kind, symbol, trades)
            self._outgoing.append((FanOut(channel, frame, explicit_only), second))

    def _fan_out_trades(self, batches: list[TradeBatch]) -> None:
        for batch in batches:
            text = encoding.trades_event(batch.symbol, batch.trades)
            self._fan_out(subscriptions.TRADE, batch.symbol, text, "trade", trades=len(batch.trades))

    def _publish(self) -> None:
        self._fan_out_trades(self._trades.due(self._monotonic()))
        for event in self._pending.take():
            if isinstance(event, Candle):
                self._recent.remember(event)
                text = encoding.candle_event(event)
                self._fan_out(subscriptions.CANDLE, event.symbol, text, "candle", second=event.open_time // 1000)
            else:
                # Clients on the implicit default expect candles only; revised candles reach them.
                text = encoding.gap_event(event)
                self._fan_out(subscriptions.CANDLE, event.symbol, text, "other", explicit_only=True)
        # What goes out now: what need not wait, and what waited once it may go.
        outgoing, self._outgoing = self._outgoing, []
        self._deliver(self._linger.take(outgoing, self._monotonic(), self._closed_seconds.complete))

    def _deliver(self, fan_outs: list[FanOut]) -> None:
        """Every writer is told the frames of each group that wants any."""
        groups = self._groups.frames_by_group(fan_outs)
        if groups:
            published = Publish(groups)
            for writer in self._writers:
                writer.tell(published)

    def _write_text(self, client_id: int, text: str) -> None:
        """One text message for one client; its writer re-encodes it if the client compresses."""
        if client_id in self._admission:
            self._writer(client_id).tell(WriteTo(client_id, (self._outbound(text, "other", ""),)))

    def _tick_writers(self) -> None:
        """A busy writer (backlogs to retry, clients closing) every tick; the others to report."""
        self._ticks += 1
        report = self._ticks % REPORT_TICKS == 0
        for index, writer in enumerate(self._writers):
            counters = self._stats.writer(index)
            if report or counters is None or counters.busy:
                writer.tell(WriterTick(report))
