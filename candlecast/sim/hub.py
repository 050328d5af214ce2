"""The simulated exchange's one owner of shared state: the trade record of every symbol and
the subscriptions of every stream connection.

Trades arrive from the pacer when they are due; each is recorded, then offered to every
connection subscribed to its symbol, in id order. Offers never block (a full outbox means a
client too slow to keep up, which Binance disconnects too). Every frame to a client leaves
through ``_send``, the place where faults (drops, silence, gaps, bad frames) can be injected.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import msgspec

from candlecast.actors.base import Actor
from candlecast.binance import stream_name
from candlecast.messages import Trade
from candlecast.sim import protocol
from candlecast.sim.messages import (
    ClientClosed,
    ClientOpened,
    ClientRequest,
    CloseClients,
    GetAggTrades,
    GetConnectionsAccepted,
    GetHistoricalTrades,
    GetRecentTrades,
    GetTrades,
    TradesDue,
)
from candlecast.sim.pacer import Pacer
from candlecast.sim.record import TradeRecord
from candlecast.sim.schedule import Schedule

SLOW_CLIENT_CLOSE_CODE = 1008
GOING_AWAY = 1001


class _Connection(msgspec.Struct):
    session: Any
    streams: dict[str, None]
    combined: bool
    closing: bool = False


class ExchangeHub(Actor):
    def __init__(self, schedules: Sequence[Schedule], clock: Callable[[], int]) -> None:
        super().__init__(actor="sim-exchange")
        self._schedules = tuple(schedules)
        self._pacer: Pacer | None = None
        self._clock = clock
        self._records: dict[str, TradeRecord] = {}
        self._connections: dict[int, _Connection] = {}
        self._shutting_down = False
        self._accepted = 0

    def on_start(self) -> None:
        # The schedules are the pacer's from here on; the hub never reads them.
        self._pacer = Pacer(self._schedules, self.actor_ref, self._clock)
        self._pacer.start()

    def on_stop(self) -> None:
        if self._pacer is not None:
            self._pacer.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case TradesDue(trades=trades):
                self._publish(trades)
            case ClientOpened():
                self._open(message)
            case ClientRequest(connection_id=connection_id, request=request):
                connection = self._connections.get(connection_id)
                if connection is not None:
                    self._send(connection, self._answer(connection, request))
            case ClientClosed(connection_id=connection_id):
                if self._connections.pop(connection_id, None) is not None:
                    self.log.info("client disconnected", connection=connection_id)
            case CloseClients(code=code, reason=reason):
                self._shutting_down = True
                for connection in self._connections.values():
                    self._close(connection, code, reason)
            case GetConnectionsAccepted():
                return self._accepted
            case GetTrades(symbol=symbol):
                return self._read(symbol).all()
            case GetRecentTrades(symbol=symbol, limit=limit):
                return self._read(symbol).recent(limit)
            case GetHistoricalTrades(symbol=symbol, limit=limit, from_id=from_id):
                record = self._read(symbol)
                return record.recent(limit) if from_id is None else record.from_id(from_id, limit)
            case GetAggTrades(symbol=symbol, limit=limit, from_id=from_id, start_time=start, end_time=end):
                return self._read(symbol).aggregates(limit, from_id, start, end)
        return None

    def _read(self, symbol: str) -> TradeRecord:
        return self._records.get(symbol) or TradeRecord()

    def _open(self, opened: ClientOpened) -> None:
        connection = _Connection(opened.session, dict.fromkeys(opened.streams), opened.combined)
        self._connections[opened.connection_id] = connection
        self._accepted += 1
        self.log.info("client connected", connection=opened.connection_id, peer=opened.session.peer, streams=len(opened.streams))
        if self._shutting_down:
            self._close(connection, GOING_AWAY, "server shutting down")

    def _publish(self, trades: tuple[Trade, ...]) -> None:
        for trade in trades:
            self._records.setdefault(trade.symbol, TradeRecord()).append(trade)
        event_time = self._clock()
        named = [(trade, stream_name(trade.symbol)) for trade in trades]
        frames: dict[tuple[int, bool], str] = {}
        for connection in self._connections.values():
            for index, (trade, stream) in enumerate(named):
                if connection.closing:
                    break
                if stream not in connection.streams:
                    continue
                key = (index, connection.combined)
                if key not in frames:
                    frames[key] = protocol.trade_frame(trade, event_time, connection.combined)
                self._send(connection, frames[key])

    def _answer(self, connection: _Connection, request: protocol.StreamRequest | protocol.RequestError) -> str:
        if isinstance(request, protocol.RequestError):
            return protocol.error_reply(request)
        match request.method:
            case "SUBSCRIBE":
                connection.streams.update(dict.fromkeys(request.streams))
            case "UNSUBSCRIBE":
                for stream in request.streams:
                    connection.streams.pop(stream, None)
            case "LIST_SUBSCRIPTIONS":
                return protocol.reply(list(connection.streams), request.request_id)
            case "SET_PROPERTY":
                connection.combined = request.combined
            case "GET_PROPERTY":
                return protocol.reply(connection.combined, request.request_id)
        return protocol.reply(None, request.request_id)

    def _send(self, connection: _Connection, text: str) -> None:
        """The one way out to a client."""
        if connection.closing or connection.session.offer(text):
            return
        self.log.warning("client too slow, disconnecting", peer=connection.session.peer)
        self._close(connection, SLOW_CLIENT_CLOSE_CODE, "client too slow")

    @staticmethod
    def _close(connection: _Connection, code: int, reason: str) -> None:
        connection.closing = True
        connection.session.close(code, reason)

