"""Requests for trades missing from the stream or for a symbol's price before it, the backfill
actor's answers, and its counters."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pykka

from candlecast.market_data import Trade
from candlecast.messages.base import Message, Query

# The REST endpoint trades are fetched from: historicalTrades until the exchange refuses it.
BackfillSource = Literal["historicalTrades", "aggTrades"]


class RequestBackfill(Message, frozen=True):
    """Fetch trades ``first_id``..``last_id`` of ``symbol`` over REST (``last_id`` None: up to
    now); ``after_time`` is the time of the trade before the gap. Replies go to ``reply_to``."""

    symbol: str
    first_id: int
    last_id: int | None
    after_time: int
    reply_to: pykka.ActorRef[Any] | None = None


class TradesRecovered(Message, frozen=True):
    """One page of a backfill: every trade id from ``first_id`` to ``through_id`` is in
    ``trades`` (ids are consecutive); ``finished`` when the request is fully answered."""

    symbol: str
    first_id: int
    trades: tuple[Trade, ...]
    through_id: int
    finished: bool


class BackfillFailed(Message, frozen=True):
    """The trades from ``first_id`` on could not be fetched; the gap is given up."""

    symbol: str
    first_id: int
    reason: str


class RequestSeed(Message, frozen=True):
    """Fetch the newest trade of ``symbol``, whose subscription has just taken effect, for the
    price of the seconds before its first streamed trade. The answer goes to ``reply_to``."""

    symbol: str
    reply_to: pykka.ActorRef[Any] | None = None


class PriceSeeded(Message, frozen=True):
    """The answer to ``RequestSeed``: the newest trade when it was asked for, or None and why."""

    symbol: str
    trade: Trade | None
    failure: str = ""


class BackfillStats(msgspec.Struct, frozen=True):
    """The backfill's counters for /health; ``rest_weight_used_1m``: of the exchange's
    request weight, what the last minute used."""

    requested: int
    pending: int
    pages: int
    trades_recovered: int
    failed: int
    rate_limited: int
    rest_requests: int
    rest_weight_used_1m: int
    source: BackfillSource


class GetBackfillStats(Query, frozen=True):
    """Answered with ``BackfillStats``."""
