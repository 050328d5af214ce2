"""What the clock actor hears of the exchange's time and of the readers, and what it tells the
aggregators: that a second is over."""

from __future__ import annotations

from typing import Any

import msgspec
import pykka

from candlecast.messages.base import Message, Query


class SecondElapsed(Message, frozen=True):
    """Exchange time has passed the end of ``second`` plus the grace period."""

    second: int


class ClockOffsetMeasured(Message, frozen=True):
    """Exchange time minus monotonic time, from ``/api/v3/time``, and how long the request took
    (the answer was made somewhere within it)."""

    offset_ms: int
    round_trip_ms: int


class TradeClock(Message, frozen=True):
    """What a reader's trades of the last second say of the exchange's clock: the median of
    trade time minus monotonic arrival time. A trade is read after it is made, so the exchange's
    offset to the monotonic clock is at least about this, and more by the stream's latency."""

    reader: str
    offset_ms: int


class WallClockStepped(Message, frozen=True):
    """The machine's wall clock moved against the monotonic clock by ``step_ms`` between two
    wakes of the clock's timer: stepped (by NTP or by hand) or the machine was suspended."""

    step_ms: int


class ReaderBehind(Message, frozen=True):
    """An upstream reader behind its socket has not read past ``second`` by the grace period:
    seconds from it on of the ``symbols`` it reads may still get trades it has yet to read.
    None: it is not behind (or has stopped), and holds no symbol."""

    reader: str
    second: int | None
    symbols: frozenset[str] = frozenset()


class AggregatorsChanged(Message, frozen=True):
    """The complete set of aggregators the clock ticks, by symbol, replacing the previous one."""

    aggregators: tuple[tuple[str, pykka.ActorRef[Any]], ...]


class ClockStats(msgspec.Struct, frozen=True):
    """How the exchange's clock is known, for /health: ``offset_ms`` is the exchange's lead on
    the wall clock (None until read); readers behind their socket and the seconds due to close
    that wait for them."""

    readers_behind: int
    seconds_waiting: int
    in_sync: bool
    offset_ms: int | None
    offsets_refused: int
    wall_clock_steps: int
    last_sync_age_s: float | None


class GetClockStats(Query, frozen=True):
    """Answered with ``ClockStats``."""
