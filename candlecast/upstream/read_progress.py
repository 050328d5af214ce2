"""How far a reader that is behind its socket has read, for the clock.

A reader that finds more waiting in its socket as a read returns is behind: the trades of the
second the clock would close are still unread, not late. It tells the clock the first second it
has not read past, with its symbols, until it catches up (docs/seconds.md).
Pure data: it lives inside one reader thread.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from candlecast.clock.closing import closed_through
from candlecast.market_data import Trade
from candlecast.messages.clock import ReaderBehind

# A reader still behind says so again this often, so the clock can tell a stuck one from a slow one.
REPEAT_S = 0.5


class ReadProgress:
    """The grace period counts in the exchange time the reader has read up to, as the clock's
    timer counts it in the current exchange time: trades of a second read just after a later one are
    stragglers either way."""

    __slots__ = ("_grace_ms", "_newest_ms", "_reader", "_told", "_told_at")

    def __init__(self, reader: str, grace_ms: int) -> None:
        self._reader = reader
        self._grace_ms = grace_ms
        self._newest_ms: int | None = None
        self._told: int | None = None  # the second the clock last heard; None: not behind
        self._told_at = -math.inf

    @property
    def open_from(self) -> int | None:
        """The first second this reader has not yet read past by the grace period; None before any trade."""
        if self._newest_ms is None:
            return None
        return closed_through(self._newest_ms, self._grace_ms) + 1

    def after_read(
        self, more_waiting: bool, arrived: list[Trade], now: float, reading: Collection[str]
    ) -> ReaderBehind | None:
        """What to tell the clock after a read at ``now`` (monotonic seconds), if anything;
        ``reading``: the symbols the reader reads, whose seconds wait while it is behind."""
        if arrived and (self._newest_ms is None or arrived[-1].time > self._newest_ms):
            self._newest_ms = arrived[-1].time
        open_from = self.open_from
        if more_waiting and open_from is not None:
            if self._told != open_from or now - self._told_at >= REPEAT_S:
                self._told, self._told_at = open_from, now
                return ReaderBehind(self._reader, open_from, frozenset(reading))
            return None
        if not more_waiting and self._told is not None:
            self._told = None
            return ReaderBehind(self._reader, None)
        return None
