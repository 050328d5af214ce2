"""Requests for trades missing from the stream and the REST fetcher's answers."""

from __future__ import annotations

from typing import Any

from candlecast.market import Trade
from candlecast.messages.base import Message, Query


class RequestBackfill(Message):
    """Fetch trades ``first_id``..``last_id`` of ``symbol`` over REST (``last_id`` None: up to
    now); ``after_time`` is the time of the trade before the gap. Replies go to ``reply_to``."""

    symbol: str
    first_id: int
    last_id: int | None
    after_time: int
    reply_to: Any = None


class TradesRecovered(Message):
    """One page of a backfill: every trade id from ``first_id`` to ``through_id`` is in
    ``trades`` (ids are consecutive); ``finished`` when the request is fully answered."""

    symbol: str
    first_id: int
    trades: tuple[Trade, ...]
    through_id: int
    finished: bool


class BackfillFailed(Message):
    symbol: str
    first_id: int
    reason: str


class GetBackfillStats(Query):
    """Answered with a dict: requests, pages, trades recovered, failures, REST weight used."""
