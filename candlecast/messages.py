"""The vocabulary of the system: every message an actor sends or receives.

Messages are frozen, slotted structs so they can cross threads without copies or locks.
Collections inside them are tuples or frozensets for the same reason.
Messages an HTTP thread asks for (and waits on) derive from ``Query``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec


class Message(msgspec.Struct, frozen=True):
    """Base of every message; told, never answered."""


class Query(msgspec.Struct, frozen=True):
    """Base of every message that is asked; a failure goes back to the asker."""


# --- market data ---------------------------------------------------------------------------


class Trade(Message):
    """One exchange trade; ``time`` is the exchange's trade time in epoch milliseconds."""

    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    time: int
    buyer_is_maker: bool


class TradeBatch(Message):
    """Consecutive trades of one symbol, in trade-id order; batching keeps mailboxes short."""

    symbol: str
    trades: tuple[Trade, ...]


class Candle(Message):
    """A closed 1-second kline, field for field as Binance publishes it."""

    symbol: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal
    first_trade_id: int
    last_trade_id: int


class SecondElapsed(Message):
    """Exchange time has passed the end of ``second`` plus the grace period."""

    second: int


class ClockOffsetMeasured(Message):
    """Exchange time minus local time, from ``/api/v3/time``."""

    offset_ms: int


# --- registry ------------------------------------------------------------------------------


class AddSymbol(Query):
    symbol: str


class RemoveSymbol(Query):
    symbol: str


class ListSymbols(Query):
    """Answered with the sorted tuple of active symbols."""


class ListAvailable(Query):
    """Answered with the sorted tuple of symbols the exchange is TRADING."""


class GetUpstreamStatus(Query):
    """Answered with an ``UpstreamStatus``."""


class ExchangeInfoLoaded(Message):
    """The exchange's TRADING symbols, fetched by the registry's loader thread."""

    trading: frozenset[str]


class ConnectionStateChanged(Message):
    """A connection reports its state upward so REST can answer without asking it."""

    connection_id: int
    state: str
    detail: str = ""
    rejected_frames: int = 0


class ConnectionStatus(msgspec.Struct, frozen=True):
    connection_id: int
    state: str
    detail: str
    rejected_frames: int
    symbols: tuple[str, ...]


class UpstreamStatus(msgspec.Struct, frozen=True):
    exchange_info_loaded: bool
    connections: tuple[ConnectionStatus, ...]

    @property
    def connected(self) -> bool:
        return any(c.state == "connected" for c in self.connections)


# --- connection ----------------------------------------------------------------------------


class Watch(Message):
    """Stream ``symbol`` and deliver its trades to ``aggregator`` (a pykka ActorRef)."""

    symbol: str
    aggregator: Any


class Unwatch(Message):
    symbol: str


class UpstreamConnected(Message):
    """The reader thread opened ``socket`` streaming exactly ``symbols``."""

    socket: Any
    symbols: frozenset[str]


class UpstreamDisconnected(Message):
    reason: str


class FrameRejected(Message):
    """The reader thread dropped a malformed frame; counted by the connection."""

    reason: str


# --- clock ---------------------------------------------------------------------------------


class AggregatorsChanged(Message):
    """The complete set of aggregators the clock ticks, replacing the previous one."""

    aggregators: tuple[Any, ...]


# --- store ---------------------------------------------------------------------------------


class SymbolActivated(Message):
    symbol: str


class SymbolDeactivated(Message):
    symbol: str


class GetLatestCandle(Query):
    symbol: str


class GetCandles(Query):
    symbol: str
    limit: int


class GetTick(Query):
    symbol: str


# --- broadcaster ---------------------------------------------------------------------------


class ClientConnected(Message):
    """A WebSocket client joined; ``session`` is its outbox handle (offer/close)."""

    client_id: int
    session: Any
    subscriptions: frozenset[tuple[str, str]]


class ClientDisconnected(Message):
    client_id: int


class ChangeSubscriptions(Message):
    """A client's subscribe/unsubscribe/list command, already validated."""

    client_id: int
    op: str
    pairs: frozenset[tuple[str, str]]
    request_id: Any = None


class DisconnectAll(Message):
    """Close every client with ``code``; sent when the bridge shuts down."""

    code: int
    reason: str


class GetBroadcastStats(Query):
    """Answered with a dict of client and delivery counters."""
