"""What the clock actor hears of the exchange's time and from the readers, and what it tells."""

from __future__ import annotations

from typing import Any

from candlecast.market import MarketData
from candlecast.messages.base import Message, Query


class SecondElapsed(MarketData):
    """Exchange time has passed the end of ``second`` plus the grace period."""

    second: int


class ClockOffsetMeasured(MarketData):
    """Exchange time minus monotonic time, from ``/api/v3/time``, and how long the request took
    (the answer was made somewhere within it)."""

    offset_ms: int
    round_trip_ms: int


class TradeClock(Message):
    """What a reader's trades of the last second say of the exchange's clock: the median of
    trade time minus monotonic arrival time. A trade is read after it is made, so the exchange's
    offset to the monotonic clock is at least about this, and more by the stream's latency."""

    reader: str
    offset_ms: int


class WallClockStepped(Message):
    """The machine's wall clock moved against the monotonic clock by ``step_ms`` between two
    wakes of the clock's timer: stepped (by NTP or by hand) or the machine was suspended."""

    step_ms: int


class ReaderBehind(Message):
    """An upstream reader behind its socket has not read past ``second`` by the grace period:
    seconds from it on of the ``symbols`` it reads may still get trades it has yet to read.
    None: it is not behind (or has stopped), and holds no symbol."""

    reader: str
    second: int | None
    symbols: frozenset[str] = frozenset()


class AggregatorsChanged(Message):
    """The complete set of aggregators the clock ticks, by symbol, replacing the previous one."""

    aggregators: tuple[tuple[str, Any], ...]


class GetClockStats(Query):
    """Answered with a dict: upstream readers behind their socket, the seconds due to close
    that wait for them, and how the exchange's clock is known (offset, refusals, steps)."""
