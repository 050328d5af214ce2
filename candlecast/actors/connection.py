"""One actor per upstream WebSocket connection: which symbols it streams, and keeping the
server's subscriptions equal to them with live SUBSCRIBE/UNSUBSCRIBE, never by reconnecting.

The socket belongs to an ``UpstreamReader`` thread; this actor sends requests within Binance's
message rate and reconciles them, rotates the socket make-before-break, tells its aggregators
when their stream is confirmed, interrupted or resumed, and replaces a reader whose loop ended.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

import websocket

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.upstream import (
    ConnectionState,
    ConnectionStateChanged,
    ConnectionStatus,
    ControlReplied,
    FlushRequests,
    FrameRejected,
    FramesArriving,
    RotationDue,
    StreamInterrupted,
    StreamResumed,
    SubscriptionConfirmed,
    Unwatch,
    UpstreamConnected,
    UpstreamDisconnected,
    Watch,
)
from candlecast.runtime.rate_window import parse_rates
from candlecast.runtime.supervision import Supervisor
from candlecast.settings import Settings
from candlecast.upstream import binance
from candlecast.upstream.connect_attempts import ConnectAttempts
from candlecast.upstream.reader import ReaderOptions, UpstreamReader
from candlecast.upstream.request_budget import RequestBudget
from candlecast.upstream.subscription_sync import SubscriptionSync

# Connections opened together would otherwise all rotate together.
LIFETIME_JITTER = (0.9, 1.0)


class ConnectionActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        *,
        connection_id: int,
        settings: Settings,
        connect_attempts: ConnectAttempts,
        registry: Any,
        trade_listeners: tuple[Any, ...],
        clock: Any,
        exchange_time: ExchangeTime,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(actor="connection", connection=connection_id)
        self._id = connection_id
        self._settings = settings
        self._connect_attempts = connect_attempts
        self._registry = registry
        self._trade_listeners = trade_listeners
        self._clock = clock
        self._exchange_time = exchange_time
        self._rng = rng or random.Random()
        self._routes: dict[str, Any] = {}
        self._reader: UpstreamReader | None = None
        self._replacement: UpstreamReader | None = None
        self._retiring: UpstreamReader | None = None  # replaced, still reading what it was sent
        self._socket: websocket.WebSocket | None = None
        self._reader_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._sync = SubscriptionSync()
        self._budget = RequestBudget(settings.control_messages_per_s)
        self._flush_timer: threading.Timer | None = None
        self._interrupted: set[str] = set()
        self._ever_connected = False
        self._state: ConnectionState = "idle"
        self._detail = ""
        self._last_frame_at: float | None = None
        self._rejected_frames = 0
        self._rejected_trades = 0
        self._reconnects = 0
        self._rotations = 0
        self._control_requests = 0
        self._resubscribed = 0
        self.supervisor = Supervisor()
        self._readers_component = f"upstream-{connection_id}"
        self._failed = False

    def on_stop(self) -> None:
        self._cancel_flush()
        self._stop_readers()

    def handle(self, message: Any) -> None:  # noqa: PLR0912 (one case per message type)
        match message:
            case Watch(symbol=symbol, aggregator=aggregator):
                self._routes[symbol] = aggregator
                self._publish_routes()
                self._flush()
            case Unwatch(symbol=symbol):
                if self._routes.pop(symbol, None) is not None:
                    self._interrupted.discard(symbol)
                    self._publish_routes()
                    self._flush()
            case UpstreamConnected():
                self._connected(message)
            case UpstreamDisconnected():
                self._disconnected(message)
            case RotationDue(reader_id=reader_id, reason=reason):
                self._rotate(reader_id, reason)
            case FramesArriving(reader_id=reader_id, at=at):
                if self._reader is not None and reader_id == self._reader.reader_id:
                    self._last_frame_at = at
                    self._report()
                    self._stop_retiring()
            case FlushRequests():
                self._flush_timer = None
                self._flush()
            case ControlReplied(reply=reply, read_at_ms=read_at_ms):
                self._replied(reply, read_at_ms)
            case FrameRejected(reason=reason, trade=trade):
                self._rejected_frames += 1
                self._rejected_trades += trade
                if self._rejected_frames <= 10 or self._rejected_frames % 1000 == 0:
                    self.log.warning("malformed upstream frame", reason=reason, total=self._rejected_frames)
            case ThreadEnded():
                self._reader_ended(message)

    # --- readers ---------------------------------------------------------------------------

    def _publish_routes(self) -> None:
        if self._failed:
            return  # down for good, and reported so
        if not self._routes:
            self._stop_readers()
            self._interrupted.clear()
            self._report("idle", "")
            return
        if self._reader is None:
            self._reader = self._start_reader()
            self._report("connecting", "")
        routes = MappingProxyType(dict(self._routes))
        for reader in (self._reader, self._replacement, self._retiring):
            if reader is not None:
                reader.routes = routes

    def _start_reader(self) -> UpstreamReader:
        options = ReaderOptions(
            stream_url=self._settings.stream_url,
            reconnect_cap_s=self._settings.reconnect_max_s,
            stale_after_s=self._settings.stale_after_s,
            lifetime_s=self._settings.connection_lifetime_s * self._rng.uniform(*LIFETIME_JITTER),
            connect_attempts=self._connect_attempts,
            grace_ms=self._settings.grace_ms,
            trade_listeners=self._trade_listeners,
            clock=self._clock,
            exchange_time=self._exchange_time,
            max_trade_ahead_ms=self._settings.max_trade_ahead_ms,
            max_trade_behind_ms=self._settings.max_trade_behind_ms,
            max_rejects=parse_rates(self._settings.upstream_max_rejects),
        )
        reader = UpstreamReader(
            connection=self.actor_ref,
            connection_id=self._id,
            reader_id=next(self._reader_ids),
            options=options,
            on_ended=self._tell_ended,
        )
        reader.routes = MappingProxyType(dict(self._routes))
        reader.start()
        return reader

    def _tell_ended(self, ended: ThreadEnded) -> None:
        tell_if_alive(self.actor_ref, ended)

    def _reader_ended(self, ended: ThreadEnded) -> None:
        """A reader's loop ended unexpectedly: its socket is lost like any other, and a new
        reader takes its place while the supervisor allows; past that the connection fails."""
        readers = [
            r for r in (self._reader, self._replacement, self._retiring) if r is not None and r.name == ended.thread
        ]
        if not readers:
            return  # stopped meanwhile
        (reader,) = readers
        reader.stop()  # it told us as its last act
        if not self.supervisor.may_restart(ThreadEnded(thread=self._readers_component, cause=ended.cause)):
            self._fail(f"reader thread keeps ending: {ended.cause}")
            return
        if reader is self._retiring:
            # Its successor streams every symbol; a hole it leaves shows in the trade ids.
            self._retiring = None
        elif reader is self._replacement:
            self._replacement = self._start_reader()
        else:
            self._disconnected(UpstreamDisconnected(reason=f"reader ended: {ended.cause}", reader_id=reader.reader_id))
            if self._reader is reader:
                self._reader = self._start_reader()
        self._report()

    def _fail(self, detail: str) -> None:
        """Down for good: no reader, every stream interrupted, the state ``failed``."""
        streaming = self._socket is not None
        self._stop_readers()
        if streaming:
            self._interrupt_streams(detail)
        self._failed = True
        self._report("failed", detail)

    def _stop_readers(self) -> None:
        for reader in (self._replacement, self._reader, self._retiring):
            if reader is not None:
                reader.stop()
        self._reader = self._replacement = self._retiring = None
        self._socket = None

    def _stop_retiring(self) -> None:
        retiring, self._retiring = self._retiring, None
        if retiring is not None:
            retiring.stop()

    def _is_active(self, reader_id: int) -> bool:
        return self._reader is not None and self._reader.reader_id == reader_id

    def _rotate(self, reader_id: int, reason: str) -> None:
        if not self._is_active(reader_id) or self._replacement is not None or not self._routes:
            return
        self.log.info("rotating the upstream socket, make-before-break", reason=reason)
        self._replacement = self._start_reader()

    def _connected(self, connected: UpstreamConnected) -> None:
        if self._replacement is not None and connected.reader_id == self._replacement.reader_id:
            self._stop_retiring()
            self._retiring, self._reader, self._replacement = self._reader, self._replacement, None
            self._rotations += 1
        elif not self._is_active(connected.reader_id):
            return
        elif self._ever_connected:
            self._reconnects += 1
        self._ever_connected = True
        self._socket = connected.socket
        self._budget.reset()
        self._sync.connected(connected.symbols)
        resumed, self._interrupted = self._interrupted & self._routes.keys(), set()
        for symbol in sorted(resumed):
            self._tell_aggregator(symbol, StreamResumed(symbol=symbol))
        self._confirm(connected.symbols, connected.opened_at_ms)
        self._report("connected", "")
        self._flush()

    def _disconnected(self, disconnected: UpstreamDisconnected) -> None:
        """Only the active reader's losses matter; a replacement that cannot connect keeps trying,
        and a retiring one that lost its socket has nothing left to read."""
        if self._retiring is not None and disconnected.reader_id == self._retiring.reader_id:
            self._stop_retiring()
            return
        if not self._is_active(disconnected.reader_id):
            return
        was_streaming = self._socket is not None
        self._socket = None
        if self._replacement is not None and self._reader is not None:
            # Lost before its replacement is up: the replacement carries on as the reader.
            self._reader.stop()
            self._reader, self._replacement = self._replacement, None
        if was_streaming:
            self._interrupt_streams(disconnected.reason)
        self._report("reconnecting", disconnected.reason)

    def _interrupt_streams(self, reason: str) -> None:
        self._interrupted = set(self._routes)
        self.log.warning("streams interrupted", streams=len(self._interrupted), reason=reason)
        silent_since_ms = None
        if self._last_frame_at is not None:
            silent_since_ms = int((time.time() - (time.monotonic() - self._last_frame_at)) * 1000)
        for symbol in sorted(self._interrupted):
            self._tell_aggregator(symbol, StreamInterrupted(symbol=symbol, silent_since_ms=silent_since_ms))

    def _confirm(self, symbols: Iterable[str], confirmed_at_ms: int) -> None:
        for symbol in sorted(symbols):
            if symbol in self._routes:
                self._tell_aggregator(symbol, SubscriptionConfirmed(symbol=symbol, confirmed_at_ms=confirmed_at_ms))

    def _tell_aggregator(self, symbol: str, message: Any) -> None:
        tell_if_alive(self._routes[symbol], message)  # a symbol being removed: its Unwatch is on the way

    # --- requests --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send what the subscriptions need, as far as the budget allows; schedule the rest."""
        if self._socket is None:
            return
        wanted = frozenset(self._routes)
        while self._sync.has_work(wanted):
            now = time.monotonic()
            if not self._budget.take(now):
                self._schedule_flush(self._budget.wait_s(now))
                return
            request_id = next(self._request_ids)
            request = self._sync.next_request(wanted, request_id)
            if request is None:
                return
            self._send(*request, request_id)

    def _send(self, method: str, symbols: list[str], request_id: int) -> None:
        if self._socket is None:
            return
        streams = [binance.stream_name(s) for s in symbols]
        try:
            self._socket.send(binance.control_request(method, streams, request_id))
        except (websocket.WebSocketException, OSError) as exc:
            self.log.info("request not sent; the reader will reconnect", method=method, error=str(exc))
            return
        self._control_requests += 1

    def _replied(self, reply: binance.ControlReply, read_at_ms: int) -> None:
        if not isinstance(reply.request_id, int):
            return
        if reply.error is not None:
            self.log.warning(
                "upstream rejected a request", request_id=reply.request_id, code=reply.error.code, msg=reply.error.msg
            )
            self._sync.failed(reply.request_id)
        else:
            self._confirm(self._sync.subscribed(reply.request_id), read_at_ms)
            lost = self._sync.listed(reply.request_id, reply.result)
            if lost:
                self._resubscribed += lost
                self.log.warning("server's subscriptions differ from ours; requesting again", missing=lost)
        self._flush()
        self._report()

    def _schedule_flush(self, delay_s: float) -> None:
        if self._flush_timer is not None:
            return
        self._flush_timer = threading.Timer(delay_s, self._tell_flush)
        self._flush_timer.name = f"connection-{self._id}-flush"
        self._flush_timer.start()

    def _tell_flush(self) -> None:
        tell_if_alive(self.actor_ref, FlushRequests())

    def _cancel_flush(self) -> None:
        timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
            timer.join()

    # --- reporting -------------------------------------------------------------------------

    def _report(self, state: ConnectionState | None = None, detail: str | None = None) -> None:
        self._state = self._state if state is None else state
        self._detail = self._detail if detail is None else detail
        tell_if_alive(
            self._registry,
            ConnectionStateChanged(
                ConnectionStatus(
                    connection_id=self._id,
                    state=self._state,
                    detail=self._detail,
                    rejected_frames=self._rejected_frames,
                    rejected_trades=self._rejected_trades,
                    reader_restarts=self._reader_restarts(),
                    streams=len(self._routes),
                    reconnects=self._reconnects,
                    rotations=self._rotations,
                    control_requests=self._control_requests,
                    resubscribed=self._resubscribed,
                ),
                last_frame_at=self._last_frame_at,
            ),
        )

    def _reader_restarts(self) -> int:
        health = self.supervisor.health().get(self._readers_component)
        return 0 if health is None else health.restarts
