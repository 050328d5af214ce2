"""The simulated exchange's one owner of shared state: every symbol's trade record, every stream
connection's subscriptions and limits, and the REST gate.

Trades from the pacer are recorded, then offered to every subscribed connection in id order,
without blocking. Every frame to a client leaves through ``_send``, and Binance's limits and the
faults tests ask for are carried out here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from candlecast.actors.base import Actor
from candlecast.http.close_codes import CloseCode
from candlecast.market_data import Trade
from candlecast.runtime.ticker import Ticker
from candlecast.sim import protocol
from candlecast.sim.config import SimulatorConfig
from candlecast.sim.gate import RestGate
from candlecast.sim.malformed import MalformedKind, malformed_frame
from candlecast.sim.messages import (
    AdmitRequest,
    ClientClosed,
    ClientOpened,
    ClientRequest,
    CloseClients,
    CorruptTrades,
    DropConnections,
    FailRest,
    FrameReceived,
    GetAggTrades,
    GetHistoricalTrades,
    GetRecentTrades,
    GetStats,
    GetTrades,
    GetTradesBetween,
    IgnoreSubscribes,
    MalformRest,
    SendMalformed,
    ServerShutdown,
    SimulatorStats,
    SkewServerTime,
    SkipTrades,
    StallConnections,
    Tick,
    TradesDue,
)
from candlecast.sim.pacer import Pacer
from candlecast.sim.record import TradeRecord
from candlecast.sim.schedule import Schedule
from candlecast.sim.throttle import FrameWindow
from candlecast.sim.ws_session import ClientFrame
from candlecast.upstream.binance import stream_name

LIMITED_FRAME_KINDS: frozenset[ClientFrame] = frozenset({"text", "binary", "ping", "pong"})


class _Connection(msgspec.Struct):
    session: Any
    streams: dict[str, None]
    combined: bool
    opened_at: float
    last_ping_at: float
    awaiting_pong_since: float | None = None
    close_at: float | None = None
    closing: bool = False
    stalled: bool = False

    @property
    def live(self) -> bool:
        """Still talking: neither on its way out nor stalled."""
        return not (self.closing or self.stalled)


TICK_S = 0.05


class ExchangeHub(Actor):
    def __init__(self, schedules: Sequence[Schedule], now_ms: Callable[[], int], config: SimulatorConfig) -> None:
        super().__init__(actor="sim-exchange")
        self._schedules = tuple(schedules)
        self._threads: tuple[Pacer, Ticker] | None = None
        self._now_ms = now_ms
        self._config = config
        self._gate = RestGate(config.weight_limit_1m, config.historical_trades_need_key, config.server_time_skew_ms)
        self._records: dict[str, TradeRecord] = {}
        self._connections: dict[int, _Connection] = {}
        self._windows: dict[int, FrameWindow] = {}
        self._skips: dict[str, int] = {}
        self._corruptions: dict[str, deque[str]] = {}
        self._ignored_subscribes = 0
        self._malformed_sent = 0
        self._shutting_down = False
        self._accepted = 0
        self._throttle_disconnects = 0
        self._stream_limit_disconnects = 0
        self._rest_rejections = 0
        self._rest_requests: dict[str, int] = {}
        self._frames_received = 0

    def on_start(self) -> None:
        # The schedules are the pacer's from here on; the hub never reads them.
        # The ticker tells the hub the time, so pings, pong deadlines and timed closes fall due.
        ticker = Ticker("sim-ticker", TICK_S, self.actor_ref, lambda: Tick(time.monotonic()))
        self._threads = (Pacer(self._schedules, self.actor_ref, self._now_ms), ticker)
        for thread in self._threads:
            thread.start()

    def on_stop(self) -> None:
        for thread in self._threads or ():
            thread.stop()

    def handle(self, message: Any) -> Any:  # noqa: PLR0911, PLR0912 (one case per message type)
        match message:
            case TradesDue(trades=trades):
                self._publish(trades)
            case FrameReceived():
                self._count_frame(message)
            case ClientRequest(connection_id=connection_id, request=request):
                connection = self._connections.get(connection_id)
                if connection is not None and not connection.closing:
                    self._answer(connection, request)
            case Tick(now=now):
                self._tick(now)
            case ClientOpened():
                self._open(message)
            case ClientClosed(connection_id=connection_id):
                self._windows.pop(connection_id, None)
                if self._connections.pop(connection_id, None) is not None:
                    self.log.info("client disconnected", connection=connection_id)
            case AdmitRequest(path=path, weight=weight, api_key=api_key):
                admission = self._gate.admit(path, weight, api_key, self._now_ms())
                self._rest_requests[path] = self._rest_requests.get(path, 0) + 1
                self._rest_rejections += admission.status is not None
                return admission
            case GetStats():
                return self._stats()
            case GetTrades(symbol=symbol):
                return self._read(symbol).all()
            case GetRecentTrades(symbol=symbol, limit=limit):
                return self._read(symbol).recent(limit)
            case GetHistoricalTrades(symbol=symbol, limit=limit, from_id=from_id):
                record = self._read(symbol)
                return record.recent(limit) if from_id is None else record.from_id(from_id, limit)
            case GetAggTrades(symbol=symbol, limit=limit, from_id=from_id, start_time=start, end_time=end):
                return self._read(symbol).aggregates(limit, from_id, start, end)
            case GetTradesBetween(symbol=symbol, start_ms=start, end_ms=end):
                return self._read(symbol).between(start, end)
            case _:
                return self._fault(message)
        return None

    def _fault(self, message: Any) -> Any:  # noqa: PLR0912 (one case per fault message type)
        match message:
            case CloseClients(code=code, reason=reason):
                self._shutting_down = True
                for connection in self._connections.values():
                    self._close(connection, code, reason)
            case DropConnections(close_frame=close_frame):
                dropped = [c for c in self._connections.values() if not c.closing]
                for connection in dropped:
                    connection.closing = True
                    if close_frame:
                        connection.session.close(CloseCode.GOING_AWAY, "dropped")
                    else:
                        connection.session.abort()
                return len(dropped)
            case StallConnections():
                stalled = [c for c in self._connections.values() if c.live]
                for connection in stalled:
                    connection.stalled = True
                return len(stalled)
            case SkipTrades(symbol=symbol, count=count):
                self._skips[symbol] = self._skips.get(symbol, 0) + count
            case CorruptTrades(symbol=symbol, count=count, kind=kind):
                self._corruptions.setdefault(symbol, deque()).extend([kind] * count)
            case SendMalformed(count=count, kinds=kinds):
                self._send_malformed(count, kinds)
            case FailRest(status=status, retry_after=retry_after, count=count, paths=paths):
                self._gate.fail_next(status, retry_after, count, paths)
            case MalformRest(path=path, kind=kind, count=count):
                self._gate.malform_next(path, kind, count)
            case SkewServerTime(offset_ms=offset_ms):
                self._gate.skew_time(offset_ms)
            case ServerShutdown(after_s=after_s, at=at):
                return self._announce_shutdown(after_s, at)
            case IgnoreSubscribes(count=count):
                self._ignored_subscribes += count
        return None

    def _read(self, symbol: str) -> TradeRecord:
        return self._records.get(symbol) or TradeRecord(self._config.kept_trades)

    def _record(self, symbol: str) -> TradeRecord:
        record = self._records.get(symbol)
        if record is None:
            record = self._records[symbol] = TradeRecord(self._config.kept_trades)
        return record

    def _stats(self) -> SimulatorStats:
        return SimulatorStats(
            connections_accepted=self._accepted,
            open_connections=sum(1 for c in self._connections.values() if not c.closing),
            throttle_disconnects=self._throttle_disconnects,
            stream_limit_disconnects=self._stream_limit_disconnects,
            rest_rejections=self._rest_rejections,
            weight_used_1m=self._gate.used(self._now_ms()),
            frames_received=self._frames_received,
            rest_requests=dict(self._rest_requests),
        )

    def _open(self, opened: ClientOpened) -> None:
        connection = _Connection(opened.session, dict.fromkeys(opened.streams), opened.combined, opened.at, opened.at)
        self._connections[opened.connection_id] = connection
        self._accepted += 1
        self.log.info(
            "client connected", connection=opened.connection_id, peer=opened.session.peer, streams=len(opened.streams)
        )
        window = self._windows.get(opened.connection_id)
        if self._shutting_down:
            self._close(connection, CloseCode.GOING_AWAY, "server shutting down")
        elif len(connection.streams) > self._config.max_streams_per_connection:
            self._refuse_streams(connection)
        elif window is not None and window.exceeded:
            self._throttle(connection)

    def _count_frame(self, frame: FrameReceived) -> None:
        """Frames can be seen before the connection's ``ClientOpened``; the window is kept apart."""
        if frame.kind not in LIMITED_FRAME_KINDS:
            return
        self._frames_received += 1
        window = self._windows.setdefault(frame.connection_id, FrameWindow(self._config.max_incoming_per_second))
        exceeded = window.add(frame.at)
        connection = self._connections.get(frame.connection_id)
        if connection is None or connection.closing:
            return
        if frame.kind == "pong":
            connection.awaiting_pong_since = None
        if exceeded:
            self._throttle(connection)

    def _throttle(self, connection: _Connection) -> None:
        self._throttle_disconnects += 1
        self.log.info("client over the incoming message limit, disconnecting", peer=connection.session.peer)
        self._close(connection, CloseCode.POLICY_VIOLATION, "Too many requests")

    def _refuse_streams(self, connection: _Connection) -> None:
        self._stream_limit_disconnects += 1
        self.log.info("client over the stream limit, disconnecting", peer=connection.session.peer)
        self._close(connection, CloseCode.POLICY_VIOLATION, "Too many streams")

    def _tick(self, now: float) -> None:
        config = self._config
        for connection in self._connections.values():
            if not connection.live:
                continue
            if connection.close_at is not None and now >= connection.close_at:
                self._close(connection, CloseCode.GOING_AWAY, "server shutdown")
            elif (
                config.connection_lifetime_s is not None and now - connection.opened_at >= config.connection_lifetime_s
            ):
                self._close(connection, CloseCode.GOING_AWAY, "connection lifetime reached")
            elif (
                connection.awaiting_pong_since is not None
                and now - connection.awaiting_pong_since >= config.pong_timeout_s
            ):
                self._close(connection, CloseCode.POLICY_VIOLATION, "Pong timeout")
            elif now - connection.last_ping_at >= config.ping_interval:
                connection.session.ping()
                connection.last_ping_at = now
                if connection.awaiting_pong_since is None:
                    connection.awaiting_pong_since = now

    def _publish(self, trades: tuple[Trade, ...]) -> None:
        for trade in trades:
            self._record(trade.symbol).append(trade)
        event_time = self._now_ms()
        named = [
            (trade, stream_name(trade.symbol), self._corruption(trade)) for trade in trades if not self._skipped(trade)
        ]
        frames: dict[tuple[int, bool], str] = {}
        for connection in self._connections.values():
            for index, (trade, stream, corruption) in enumerate(named):
                if not connection.live:
                    break
                if stream not in connection.streams:
                    continue
                key = (index, connection.combined)
                if key not in frames:
                    frames[key] = protocol.trade_frame(trade, event_time, connection.combined, corruption)
                self._send(connection, frames[key])

    def _skipped(self, trade: Trade) -> bool:
        """Recorded but never streamed: the gap a client must repair over REST."""
        remaining = self._skips.get(trade.symbol, 0)
        if remaining:
            self._skips[trade.symbol] = remaining - 1
        return remaining > 0

    def _corruption(self, trade: Trade) -> str | None:
        """How this trade's stream copy lies, if it does; the record keeps the truth."""
        pending = self._corruptions.get(trade.symbol)
        return pending.popleft() if pending else None

    def _answer(self, connection: _Connection, request: protocol.StreamRequest | protocol.RequestError) -> None:
        if isinstance(request, protocol.RequestError):
            self._send(connection, protocol.error_reply(request))
            return
        result: Any = None
        match request.method:
            case "SUBSCRIBE":
                wanted = connection.streams | dict.fromkeys(request.streams)
                if len(wanted) > self._config.max_streams_per_connection:
                    self._refuse_streams(connection)
                    return
                if self._ignored_subscribes:
                    self._ignored_subscribes -= 1
                else:
                    connection.streams = wanted
            case "UNSUBSCRIBE":
                for stream in request.streams:
                    connection.streams.pop(stream, None)
            case "LIST_SUBSCRIPTIONS":
                result = list(connection.streams)
            case "SET_PROPERTY":
                connection.combined = request.combined
            case "GET_PROPERTY":
                result = connection.combined
        self._send(connection, protocol.reply(result, request.request_id))

    def _send_malformed(self, count: int, kinds: tuple[MalformedKind, ...]) -> None:
        event_time = self._now_ms()
        for connection in self._connections.values():
            stream = next(iter(connection.streams), stream_name("BTCUSDT"))
            for index in range(self._malformed_sent, self._malformed_sent + count):
                self._send(connection, malformed_frame(index, stream, connection.combined, event_time, kinds=kinds))
        self._malformed_sent += count

    def _announce_shutdown(self, after_s: float, at: float) -> int:
        event = msgspec.json.encode({"e": "serverShutdown", "E": self._now_ms()}).decode()
        announced = [c for c in self._connections.values() if c.live and c.close_at is None]
        for connection in announced:
            self._send(connection, event)
            connection.close_at = at + after_s
        return len(announced)

    def _send(self, connection: _Connection, data: str | bytes) -> None:
        """The one way out to a client."""
        if not connection.live or connection.session.offer(data):
            return
        self.log.warning("client too slow, disconnecting", peer=connection.session.peer)
        self._close(connection, CloseCode.POLICY_VIOLATION, "client too slow")

    @staticmethod
    def _close(connection: _Connection, code: int, reason: str) -> None:
        connection.closing = True
        connection.session.close(code, reason)
