"""Binance's kline intervals and how each aligns its open times, in UTC or a fixed time zone.

Fixed-length intervals start at whole multiples of their length from the epoch, weeks on Monday
00:00 and months on the first day; a time zone moves every boundary by its offset, as Binance's
``timeZone`` parameter does. One place knows this, so every engine and the simulator agree.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
FIRST_MONDAY_MS = -3 * DAY_MS  # 1969-12-29, the Monday before the epoch (a Thursday)
MIN_OFFSET_MS = -12 * HOUR_MS
MAX_OFFSET_MS = 14 * HOUR_MS


@dataclasses.dataclass(frozen=True, slots=True)
class Interval:
    """One kline interval: ``length_ms`` for fixed-length ones, ``months`` for calendar months."""

    name: str
    length_ms: int = 0
    months: int = 0
    anchor_ms: int = 0  # where whole lengths are counted from: the epoch, or a Monday for weeks

    def start_of(self, time_ms: int, offset_ms: int = 0) -> int:
        """Open time of the bar holding ``time_ms``, with boundaries at local time (UTC + ``offset_ms``)."""
        local = time_ms + offset_ms
        if self.months:
            day = datetime.datetime.fromtimestamp(local // SECOND_MS, datetime.UTC)
            month = (day.year * 12 + day.month - 1) // self.months * self.months
            return _month_start_ms(month) - offset_ms
        return (local - self.anchor_ms) // self.length_ms * self.length_ms + self.anchor_ms - offset_ms

    def next_start(self, start_ms: int, offset_ms: int = 0) -> int:
        """Open time of the bar after the one opening at ``start_ms``."""
        if self.months:
            day = datetime.datetime.fromtimestamp((start_ms + offset_ms) // SECOND_MS, datetime.UTC)
            return _month_start_ms(day.year * 12 + day.month - 1 + self.months) - offset_ms
        return start_ms + self.length_ms


def _month_start_ms(month_index: int) -> int:
    """Epoch ms of 00:00 UTC on the first day of month ``year * 12 + month - 1``."""
    year, month0 = divmod(month_index, 12)
    return int(datetime.datetime(year, month0 + 1, 1, tzinfo=datetime.UTC).timestamp()) * SECOND_MS


INTERVALS: dict[str, Interval] = {
    interval.name: interval
    for interval in (
        Interval("1s", SECOND_MS),
        Interval("1m", MINUTE_MS),
        Interval("3m", 3 * MINUTE_MS),
        Interval("5m", 5 * MINUTE_MS),
        Interval("15m", 15 * MINUTE_MS),
        Interval("30m", 30 * MINUTE_MS),
        Interval("1h", HOUR_MS),
        Interval("2h", 2 * HOUR_MS),
        Interval("4h", 4 * HOUR_MS),
        Interval("6h", 6 * HOUR_MS),
        Interval("8h", 8 * HOUR_MS),
        Interval("12h", 12 * HOUR_MS),
        Interval("1d", DAY_MS),
        Interval("3d", 3 * DAY_MS),
        Interval("1w", WEEK_MS, anchor_ms=FIRST_MONDAY_MS),
        Interval("1M", months=1),
    )
}

_TIME_ZONE = re.compile(r"([+-]?)(\d{1,2})(?::(\d{2}))?")


def parse_time_zone(text: str) -> int:
    """Binance's ``timeZone``: hours (``8``, ``-1``) or hours and minutes (``05:45``, ``-1:00``),
    from -12:00 to +14:00 inclusive; returns the offset from UTC in ms. ValueError otherwise."""
    match = _TIME_ZONE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"timeZone {text!r} is not hours or hours:minutes")
    sign, hours, minutes = match.groups()
    if int(minutes or 0) >= 60:
        raise ValueError(f"timeZone {text!r} has more than 59 minutes")
    offset = (int(hours) * HOUR_MS + int(minutes or 0) * MINUTE_MS) * (-1 if sign == "-" else 1)
    if not MIN_OFFSET_MS <= offset <= MAX_OFFSET_MS:
        raise ValueError(f"timeZone {text!r} is outside -12:00 to +14:00")
    return offset
