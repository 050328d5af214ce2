"""What REST asks the store."""

from __future__ import annotations

from candlecast.messages.base import Query


class GetLatestCandle(Query):
    """Answered with the latest closed candle's JSON body as REST serves it, encoded once per candle;
    REST asks only what ``Latest`` does not have, for the error that says why."""

    symbol: str


class GetCandles(Query):
    symbol: str
    limit: int


class GetTick(Query):
    symbol: str


class Barrier(Query):
    """Answered once the actor has handled every message told to it before: the asker then sees
    what those messages did."""


class GetGapStats(Query):
    """Answered with {symbol: {"opened", "recovered", "unrecoverable", "open"}}."""


class GetHistoryStats(Query):
    """Answered with {"symbols", "candles"}: the closed candles the store keeps."""
