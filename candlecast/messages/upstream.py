"""What passes between the upstream connections, their reader threads and the registry.

A connection tells the registry its ``ConnectionStatus`` whenever it changes, so REST answers
from the registry without asking a connection.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pykka
import websocket

from candlecast.messages.base import Message, Query
from candlecast.upstream import binance

ConnectionState = Literal["idle", "connecting", "connected", "reconnecting", "failed"]
RotationReason = Literal["lifetime reached", "serverShutdown"]


class Watch(Message, frozen=True):
    """Stream ``symbol`` and deliver its trades to ``aggregator``."""

    symbol: str
    aggregator: pykka.ActorRef[Any]


class Unwatch(Message, frozen=True):
    symbol: str


class UpstreamConnected(Message, frozen=True):
    """Reader ``reader_id`` opened ``socket`` streaming exactly ``symbols``, at ``opened_at_ms``
    (``ExchangeTime.monotonic_ms``)."""

    socket: websocket.WebSocket
    symbols: frozenset[str]
    reader_id: int = 0
    opened_at_ms: int = 0


class ControlReplied(Message, frozen=True):
    """A reader read ``reply`` at ``read_at_ms`` (``ExchangeTime.monotonic_ms``)."""

    reply: binance.ControlReply
    read_at_ms: int


class SubscriptionConfirmed(Message, frozen=True):
    """The server streams ``symbol`` since ``confirmed_at_ms`` at the latest: the reply to its
    SUBSCRIBE was read, or a socket naming it in its URL opened, then. Monotonic
    (``ExchangeTime.monotonic_ms``), so the exchange second it falls in is reckoned once the
    exchange's clock is known. Told to its aggregator on every confirmation; the first counts."""

    symbol: str
    confirmed_at_ms: int


class UpstreamDisconnected(Message, frozen=True):
    reason: str
    reader_id: int = 0


class StreamInterrupted(Message, frozen=True):
    """The connection carrying ``symbol`` was lost with no replacement streaming it;
    ``silent_since_ms`` (epoch ms, when known) is when it last showed a frame: trades after
    that may be missing even from candles already published."""

    symbol: str
    silent_since_ms: int | None = None


class StreamResumed(Message, frozen=True):
    """``symbol`` streams again after an interruption; trades may have been missed meanwhile."""

    symbol: str


class FrameRejected(Message, frozen=True):
    """The reader thread dropped a malformed frame; counted by the connection. ``trade``: it
    named a trade of a symbol the reader streams, told to that symbol's aggregator as missing."""

    reason: str
    trade: bool = False


class TradeRejected(Message, frozen=True):
    """The reader refused trade ``trade_id`` of ``symbol`` (``reason``): told to its aggregator,
    which treats the id as missing at once, so the candles it may belong to are flagged and the
    true trade is fetched over REST."""

    symbol: str
    trade_id: int
    reason: str


class RotationDue(Message, frozen=True):
    """Reader ``reader_id``'s socket should be replaced: it reached its lifetime or the
    server announced ``serverShutdown``. The connection opens a new one before letting go."""

    reader_id: int
    reason: RotationReason


class FramesArriving(Message, frozen=True):
    """Reader ``reader_id`` received frames, the last at ``at`` (monotonic s); about once a second."""

    reader_id: int
    at: float


class FlushRequests(Message, frozen=True):
    """The connection's request budget has room again: send what is waiting."""


class ConnectionStatus(msgspec.Struct, frozen=True):
    """One upstream connection as /health shows it; the registry adds what it knows better:
    the ``symbols`` it gave the connection and how long ago the last frame came.

    ``control_requests``: SUBSCRIBE, UNSUBSCRIBE and LIST_SUBSCRIPTIONS sent; ``resubscribed``:
    streams the server's list was missing and that were asked for again; ``rejected_trades``: the
    rejected frames that were trades; ``reader_restarts``: times its reader thread ended
    unexpectedly and was replaced.
    """

    connection_id: int
    state: ConnectionState
    detail: str = ""
    rejected_frames: int = 0
    symbols: tuple[str, ...] = ()
    rejected_trades: int = 0
    reader_restarts: int = 0
    streams: int = 0
    last_frame_age_s: float | None = None
    reconnects: int = 0
    rotations: int = 0
    control_requests: int = 0
    resubscribed: int = 0


class ConnectionStateChanged(Message, frozen=True):
    """A connection's ``status``, told to the registry on every change and about once a second
    while frames arrive; ``last_frame_at`` (monotonic seconds, None before any) dates the last."""

    status: ConnectionStatus
    last_frame_at: float | None = None


class UpstreamStatus(msgspec.Struct, frozen=True):
    """``halted``: subscribed symbols the latest exchangeInfo does not show TRADING."""

    exchange_info_loaded: bool
    connections: tuple[ConnectionStatus, ...]
    halted: tuple[str, ...] = ()

    @property
    def connected(self) -> bool:
        return any(c.state == "connected" for c in self.connections)


class GetUpstreamStatus(Query, frozen=True):
    """Answered with an ``UpstreamStatus``."""
