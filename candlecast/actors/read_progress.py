"""How far a reader that is behind its socket has read, for the clock.

The clock closes a second once exchange time passed its end plus the grace period. A reader
that fell behind its socket (a burst beyond what the process handles) has that second's
trades still unread, so the second was closed without them, as a flat or partial candle, and
then revised batch by batch as they came, every flat candle after them re-priced each time:
work per trade that grew with the lag, and the pipeline, once behind, stayed behind even
after the load dropped. A reader that finds more waiting in its socket as a read returns
(``FrameReader.more_waiting``) is behind, and tells the clock the second it is reading; the
clock closes nothing from that second on until the reader moves past it or catches up (a read
after which nothing waits). Trades arriving from the exchange late stay what they were:
revisions after the grace period.
Pure data: it lives inside one reader thread.
"""

from __future__ import annotations

import math

from candlecast.messages import ReaderBehind, Trade

# A reader still behind says so again this often, so the clock can tell a stuck one from a slow one.
REPEAT_S = 0.5


class ReadProgress:
    __slots__ = ("_reader", "_newest_second", "_told", "_told_at")

    def __init__(self, reader: str) -> None:
        self._reader = reader
        self._newest_second: int | None = None
        self._told: int | None = None  # the second the clock last heard; None: not behind
        self._told_at = -math.inf

    @property
    def newest_second(self) -> int | None:
        """The latest second of any trade read so far."""
        return self._newest_second

    def after_read(self, more_waiting: bool, arrived: list[Trade], now: float) -> ReaderBehind | None:
        """What to tell the clock after a read at ``now`` (monotonic seconds), if anything."""
        if arrived:
            second = arrived[-1].time // 1000
            if self._newest_second is None or second > self._newest_second:
                self._newest_second = second
        if more_waiting and self._newest_second is not None:
            if self._told != self._newest_second or now - self._told_at >= REPEAT_S:
                self._told, self._told_at = self._newest_second, now
                return ReaderBehind(self._reader, self._newest_second)
            return None
        if not more_waiting and self._told is not None:
            self._told = None
            return ReaderBehind(self._reader, None)
        return None
