"""What the simulator's exchange hub is told and asked.

Told by the pacer (trades whose time has come) and by each connection's thread (opened,
a live request, closed); asked from outside only (REST threads, ``Simulator``, tests).
"""

from __future__ import annotations

from typing import Any

from candlecast.messages import Message, Query, Trade
from candlecast.sim.protocol import RequestError, StreamRequest


class TradesDue(Message):
    """Trades the exchange clock has reached, in time order (id order per symbol)."""

    trades: tuple[Trade, ...]


class ClientOpened(Message):
    """A stream connection was accepted; ``session`` is its outbox (offer/close)."""

    connection_id: int
    session: Any
    streams: tuple[str, ...]
    combined: bool


class ClientRequest(Message):
    connection_id: int
    request: StreamRequest | RequestError


class ClientClosed(Message):
    connection_id: int


class CloseClients(Query):
    """Say goodbye to every client, and to any that connects from now on, with a close frame."""

    code: int
    reason: str


class GetConnectionsAccepted(Query):
    """Answered with how many stream connections were accepted since start."""


class GetTrades(Query):
    """Answered with every trade of ``symbol`` kept so far, in id order."""

    symbol: str


class GetRecentTrades(Query):
    symbol: str
    limit: int


class GetHistoricalTrades(Query):
    symbol: str
    limit: int
    from_id: int | None


class GetAggTrades(Query):
    symbol: str
    limit: int
    from_id: int | None
    start_time: int | None
    end_time: int | None
