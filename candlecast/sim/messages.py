"""What the simulator's exchange hub is told and asked.

Told by the pacer (trades whose time has come), the ticker (time passed) and each
connection's threads (opened, a frame, a live request, closed); asked from outside only
(REST threads, ``Simulator``'s fault methods, tests).
"""

from __future__ import annotations

from typing import Any

import msgspec

from candlecast.market_data import Trade
from candlecast.messages.base import Message, Query
from candlecast.sim.malformed import MalformedKind
from candlecast.sim.protocol import RequestError, StreamRequest
from candlecast.sim.ws_session import ClientFrame


class TradesDue(Message, frozen=True):
    """Trades the exchange clock has reached, in time order (id order per symbol)."""

    trades: tuple[Trade, ...]


class ClientOpened(Message, frozen=True):
    """A stream connection was accepted at ``at`` (monotonic s); ``session`` is its outbox."""

    connection_id: int
    session: Any
    streams: tuple[str, ...]
    combined: bool
    at: float


class ClientRequest(Message, frozen=True):
    connection_id: int
    request: StreamRequest | RequestError


class ClientClosed(Message, frozen=True):
    connection_id: int


class CloseClients(Query, frozen=True):
    """Say goodbye to every client, and to any that connects from now on, with a close frame."""

    code: int
    reason: str


class GetTrades(Query, frozen=True):
    """Answered with every trade of ``symbol`` kept so far, in id order."""

    symbol: str


class GetRecentTrades(Query, frozen=True):
    symbol: str
    limit: int


class GetHistoricalTrades(Query, frozen=True):
    symbol: str
    limit: int
    from_id: int | None


class GetAggTrades(Query, frozen=True):
    symbol: str
    limit: int
    from_id: int | None
    start_time: int | None
    end_time: int | None


class GetTradesBetween(Query, frozen=True):
    """Answered with ``TradeRecord.between``: the last price before ``start_ms`` and the trades
    from ``start_ms`` to ``end_ms``, in id order."""

    symbol: str
    start_ms: int
    end_ms: int


class FrameReceived(Message, frozen=True):
    """A client sent a frame (text, binary, ping, pong or close), at ``at`` (monotonic s)."""

    connection_id: int
    kind: ClientFrame
    at: float


class Tick(Message, frozen=True):
    """Time passed (monotonic s): pings, pong timeouts and timed closes fall due."""

    now: float


class AdmitRequest(Query, frozen=True):
    """A REST request asks to be served; answered with an ``GateVerdict``."""

    path: str
    weight: int
    api_key: bool


class GateVerdict(msgspec.Struct, frozen=True):
    """``status`` None: serve it, malformed as ``fault`` says if set (see ``hostile``). Else answer
    ``status`` with Binance's ``code`` and ``msg``, and ``retry_after`` as ``Retry-After``."""

    used_weight: int
    status: int | None = None
    code: int = 0
    msg: str = ""
    retry_after: str | None = None
    fault: str | None = None


# --- faults, asked by ``Simulator``'s methods of the same names ---------------------------


class DropConnections(Query, frozen=True):
    close_frame: bool


class StallConnections(Query, frozen=True):
    pass


class SkipTrades(Query, frozen=True):
    symbol: str
    count: int


class SendMalformed(Query, frozen=True):
    count: int
    kinds: tuple[MalformedKind, ...]


class CorruptTrades(Query, frozen=True):
    symbol: str
    count: int
    kind: str


class FailRest(Query, frozen=True):
    """``retry_after`` goes out verbatim, odd values included."""

    status: int
    retry_after: str
    count: int
    paths: frozenset[str]


class MalformRest(Query, frozen=True):
    path: str
    kind: str
    count: int


class SkewServerTime(Query, frozen=True):
    offset_ms: int


class ServerShutdown(Query, frozen=True):
    """Announce ``serverShutdown`` now (``at``, monotonic s) and close ``after_s`` later."""

    after_s: float
    at: float


class IgnoreSubscribes(Query, frozen=True):
    count: int


class GetStats(Query, frozen=True):
    """Answered with a ``SimulatorStats``."""


class SimulatorStats(msgspec.Struct, frozen=True):
    connections_accepted: int
    open_connections: int
    throttle_disconnects: int
    stream_limit_disconnects: int
    rest_rejections: int
    weight_used_1m: int
    frames_received: int
    rest_requests: dict[str, int] = {}  # by path, rejected ones too
