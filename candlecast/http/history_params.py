"""The query parameters of ``GET /candles/{symbol}``, parsed by pure functions: every string either
becomes a value or raises ``InvalidParameter`` naming the parameter, so bad input is a 400 that
says which parameter, never a 500. Times are bounded to what every interval's arithmetic and
every engine's 64-bit columns hold.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from falcon.util import mediatypes

from candlecast.history.intervals import INTERVALS, Interval, parse_time_zone
from candlecast.http.resources import ECHOED_CHARS

Param = Literal["interval", "start", "end", "limit", "tz", "cursor", "format"]
Format = Literal["json", "csv"]

DEFAULT_LIMIT = 60
# An hour of 1 s candles, as much as one answer held before history was kept on disk.
MAX_LIMIT = 3600
# Epoch ms with at most 13 digits (until 2286): within every interval's calendar arithmetic.
MAX_TIME_MS = 10**13 - 1

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_DIGITS = re.compile(r"[0-9]{1,20}")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{11}")
_CURSOR_BYTES = 8
_MEDIA_TYPES: dict[str, Format] = {"application/json": "json", "text/csv": "csv"}


class InvalidParameter(ValueError):
    """``param`` has a value that cannot be served; ``reason`` says why, for the client."""

    def __init__(self, param: Param, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class HistoryQuery:
    """What a request asks for: ``start_ms`` comes from ``start`` or a ``cursor``; None for
    ``start_ms`` or ``end_ms`` means the request left it open."""

    interval: Interval
    start_ms: int | None
    end_ms: int | None
    limit: int
    offset_ms: int
    format: Format


def shown(value: str) -> str:
    """``value`` quoted for an error message, cut if long."""
    return repr(value if len(value) <= ECHOED_CHARS else value[:ECHOED_CHARS] + "...")


def parse_interval(text: str) -> Interval:
    interval = INTERVALS.get(text)
    if interval is None:
        raise InvalidParameter("interval", f"{shown(text)} is not one of {' '.join(INTERVALS)}")
    return interval


def parse_time(param: Literal["start", "end"], text: str) -> int:
    """Epoch milliseconds in ASCII digits, or ISO-8601 (``2026-12-06``, ``2026-12-06T14:00:00.5``,
    ``...Z``, ``...+01:00``), UTC where it names no zone; from 1970 up to ``MAX_TIME_MS``."""
    if _DIGITS.fullmatch(text):
        time_ms = int(text)
    else:
        if not text.isascii():
            raise InvalidParameter(param, f"{shown(text)} is neither epoch milliseconds nor ISO-8601")
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidParameter(param, f"{shown(text)} is neither epoch milliseconds nor ISO-8601") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        time_ms = (moment - _EPOCH) // datetime.timedelta(milliseconds=1)
    if not 0 <= time_ms <= MAX_TIME_MS:
        raise InvalidParameter(param, f"{shown(text)} is outside 1970-01-01 to epoch ms {MAX_TIME_MS}")
    return time_ms


def parse_limit(text: str, max_limit: int) -> int:
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= max_limit:
        raise InvalidParameter("limit", f"{shown(text)} is not a whole number from 1 to {max_limit}")
    return int(text)


def parse_offset(text: str) -> int:
    """``tz`` as Binance's ``timeZone``: hours or hours:minutes from -12:00 to +14:00, in ms."""
    try:
        return parse_time_zone(text)
    except ValueError as exc:
        raise InvalidParameter("tz", f"{shown(text)} is not hours or hours:minutes from -12:00 to +14:00") from exc


def encode_cursor(open_time_ms: int) -> str:
    """The cursor of the page whose first bar opens at ``open_time_ms``: opaque to clients."""
    return base64.urlsafe_b64encode(open_time_ms.to_bytes(_CURSOR_BYTES, "big")).decode().rstrip("=")


def parse_cursor(text: str) -> int:
    if _CURSOR.fullmatch(text):
        time_ms = int.from_bytes(base64.urlsafe_b64decode(text + "="), "big")
        if time_ms <= MAX_TIME_MS:
            return time_ms
    raise InvalidParameter("cursor", f"{shown(text)} is not a cursor this server gave")


def parse_format(text: str) -> Format:
    if text not in ("json", "csv"):
        raise InvalidParameter("format", f"{shown(text)} is not json or csv")
    return "csv" if text == "csv" else "json"


def accepted_format(accept: str) -> Format:
    """JSON unless the Accept header prefers text/csv; an Accept header naming neither gets JSON."""
    try:
        best = mediatypes.best_match(list(_MEDIA_TYPES), accept)
    except ValueError:  # not a well-formed Accept header
        return "json"
    return _MEDIA_TYPES.get(best, "json")


def parse_history_query(
    params: Mapping[str, str | Sequence[str]], accept: str | None, max_limit: int = MAX_LIMIT
) -> HistoryQuery:
    """Parameters as Falcon gives them (a list for one given more than once) and the Accept
    header; parameters not named here are ignored, as before history had any."""

    def one(param: Param) -> str | None:
        value = params.get(param)
        if value is None or isinstance(value, str):
            return value
        raise InvalidParameter(param, "given more than once")

    interval, start, end, limit, tz, cursor, format_ = (
        one(param) for param in ("interval", "start", "end", "limit", "tz", "cursor", "format")
    )
    if cursor is not None and start is not None:
        raise InvalidParameter("cursor", "continues a query from where its last page ended, so it replaces start")
    query = HistoryQuery(
        interval=INTERVALS["1s"] if interval is None else parse_interval(interval),
        start_ms=parse_cursor(cursor) if cursor is not None else None if start is None else parse_time("start", start),
        end_ms=None if end is None else parse_time("end", end),
        limit=min(DEFAULT_LIMIT, max_limit) if limit is None else parse_limit(limit, max_limit),
        offset_ms=0 if tz is None else parse_offset(tz),
        format=parse_format(format_) if format_ is not None else accepted_format(accept or ""),
    )
    if query.start_ms is not None and query.end_ms is not None and query.end_ms < query.start_ms:
        raise InvalidParameter("end", f"{shown(end or '')} is before start")
    return query
