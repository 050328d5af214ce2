"""What REST and /health ask the store, and its answers about what it keeps."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from candlecast.messages.base import Query
from candlecast.runtime.progress import ProgressReport


class GetLatestCandle(Query, frozen=True):
    """Answered with the latest closed candle's JSON body as REST serves it, encoded once per candle;
    REST asks only what ``Latest`` does not have, for the error that says why."""

    symbol: str


class GetTick(Query, frozen=True):
    """Answered with the latest trade of ``symbol``."""

    symbol: str


class Barrier(Query, frozen=True):
    """Answered once the actor has handled every message told to it before: the asker then sees
    what those messages did."""


class GapCounts(msgspec.Struct, frozen=True):
    """Gaps in trade ids: how many ``opened``, were ``recovered``, were given up as
    ``unrecoverable``, and are still ``open``."""

    opened: int = 0
    recovered: int = 0
    unrecoverable: int = 0
    open: int = 0

    @classmethod
    def total(cls, counts: Iterable[GapCounts]) -> GapCounts:
        counts = tuple(counts)
        return cls(
            opened=sum(c.opened for c in counts),
            recovered=sum(c.recovered for c in counts),
            unrecoverable=sum(c.unrecoverable for c in counts),
            open=sum(c.open for c in counts),
        )


class GetGapStats(Query, frozen=True):
    """Answered with ``{symbol: GapCounts}`` for every symbol that had a gap."""


class HistoryStats(msgspec.Struct, frozen=True):
    """The history writer: candles ``queued`` (of ``queue_limit``) and the age of the oldest
    (``lag_ms``), ``written``, ``refused`` (values the engine cannot hold exactly), ``dropped``
    (queue full), the error while writes are ``failing``, the last retention pass, and the
    CPU seconds the writer has used."""

    engine: str
    queued: int
    queue_limit: int
    lag_ms: int
    written: int
    batches: int
    refused: int
    dropped: int
    failing: str
    last_write_age_s: float | None
    retention: ProgressReport | None
    cpu_s: float


class GetHistoryStats(Query, frozen=True):
    """Answered with ``HistoryStats``."""
