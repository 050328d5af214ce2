"""``GET /candles/{symbol}``: a subscribed symbol's history from the candle store, in any interval,
as JSON or CSV, a page at a time. A page names the open time its successor starts at (the
cursor), not how many rows came before it, so candles written meanwhile never shift a page.
The store is read on the request's own thread: no actor waits on the disk.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator, Sequence
from decimal import Decimal

import falcon
import msgspec

from candlecast.errors import NotSubscribed
from candlecast.history.intervals import SECOND_MS, Interval
from candlecast.history.store import CandleStore, KlineQuery
from candlecast.http import encoding
from candlecast.http.history_params import (
    MAX_LIMIT,
    HistoryQuery,
    InvalidParameter,
    encode_cursor,
    parse_history_query,
)
from candlecast.http.resources import Actors, path_symbol, respond
from candlecast.market_data import Candle
from candlecast.messages.symbols import ListSymbols

CSV_COLUMNS = (*Candle.__struct_fields__, "timestamp")
# Past this many rows a CSV answer is written as it is encoded, this many rows at a time.
CSV_ROWS_PER_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class Page:
    """Candles (1 s) or bars of one page, oldest first; ``next_start_ms`` is where the next page
    begins, None when no bar can follow this page before the query's end."""

    candles: Sequence[Candle]
    next_start_ms: int | None


def bars_before(interval: Interval, start_ms: int, count: int, offset_ms: int) -> int:
    """Open time of the bar ``count`` bars before the one opening at ``start_ms``."""
    if interval.length_ms:
        return start_ms - count * interval.length_ms
    for _ in range(count):  # calendar months differ in length
        start_ms = interval.start_of(start_ms - 1, offset_ms)
    return start_ms


def read_page(store: CandleStore, symbol: str, query: HistoryQuery) -> Page:
    """The bars opening in [start, end], or without a start the last ``limit`` bars up to the
    end, each bar whole; an open end is the newest stored candle's second."""
    interval, offset_ms = query.interval, query.offset_ms
    end_ms = store.last_open_time(symbol) if query.end_ms is None else query.end_ms
    if end_ms is None:
        return Page(candles=(), next_start_ms=None)
    last_bar = interval.start_of(end_ms, offset_ms)
    if query.start_ms is None:
        first_bar = bars_before(interval, last_bar, query.limit - 1, offset_ms)
    else:
        first_bar = interval.start_of(query.start_ms, offset_ms)
        if first_bar < query.start_ms:  # a bar that began before start is not asked for
            first_bar = interval.next_start(first_bar, offset_ms)
    if first_bar > last_bar:
        return Page(candles=(), next_start_ms=None)
    through_ms = interval.next_start(last_bar, offset_ms) - 1
    if interval.length_ms == SECOND_MS:
        candles = store.candles(symbol, first_bar, through_ms, query.limit)
    else:
        candles = store.klines(
            KlineQuery(
                symbol=symbol,
                interval=interval,
                start_ms=first_bar,
                end_ms=through_ms,
                limit=query.limit,
                offset_ms=offset_ms,
            )
        )
    next_start_ms = None
    if len(candles) == query.limit:
        following = interval.next_start(candles[-1].open_time, offset_ms)
        next_start_ms = following if following <= last_bar else None
    return Page(candles=candles, next_start_ms=next_start_ms)


def _csv_value(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, and never in exponent notation
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_row(candle: Candle) -> str:
    values = (*msgspec.structs.astuple(candle), encoding.iso_timestamp(candle.open_time))
    return ",".join(_csv_value(value) for value in values) + "\r\n"


def csv_chunks(candles: Sequence[Candle]) -> Iterator[bytes]:
    """A header row, then the candles ``CSV_ROWS_PER_CHUNK`` rows at a time."""
    yield (",".join(CSV_COLUMNS) + "\r\n").encode()
    for first in range(0, len(candles), CSV_ROWS_PER_CHUNK):
        yield "".join(csv_row(candle) for candle in candles[first : first + CSV_ROWS_PER_CHUNK]).encode()


def next_link(req: falcon.Request, cursor: str) -> str:
    """This request's URL, relative to its host, with ``cursor`` in place of start and cursor."""
    params = {name: value for name, value in req.params.items() if name not in ("start", "cursor")}
    query = urllib.parse.urlencode({**params, "cursor": cursor}, doseq=True)
    return f'<{urllib.parse.quote(req.root_path + req.path)}?{query}>; rel="next"'


# Encoding this many candles costs about what a plain request does, so the rate limit counts
# a request for N candles as 1 + N // CANDLES_PER_WEIGHT requests (an hour: 37).
CANDLES_PER_WEIGHT = 100


class HistoryResource:
    """``actors`` answers which symbols are subscribed; ``store`` holds their candles."""

    def __init__(self, *, actors: Actors, store: CandleStore, max_limit: int = MAX_LIMIT) -> None:
        self._actors = actors
        self._store = store
        self._max_limit = max_limit

    def weight(self, req: falcon.Request) -> int:
        try:
            return 1 + self._query(req).limit // CANDLES_PER_WEIGHT
        except falcon.HTTPError:
            return 1  # answered 400, nothing read

    def _query(self, req: falcon.Request) -> HistoryQuery:
        try:
            return parse_history_query(req.params, req.accept, self._max_limit)
        except InvalidParameter as exc:
            raise falcon.HTTPBadRequest(title="Invalid parameter", description=str(exc)) from exc

    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        query = self._query(req)
        symbol = path_symbol(symbol)
        if symbol not in self._actors.ask(self._actors.registry, ListSymbols()):
            raise NotSubscribed(f"{symbol} is not subscribed")
        page = read_page(self._store, symbol, query)
        cursor = None if page.next_start_ms is None else encode_cursor(page.next_start_ms)
        if cursor is not None:
            resp.set_header("Link", next_link(req, cursor))
        if query.format == "csv":
            resp.content_type = "text/csv; charset=utf-8"
            chunks = csv_chunks(page.candles)
            if len(page.candles) > CSV_ROWS_PER_CHUNK:
                resp.stream = chunks
            else:
                resp.data = b"".join(chunks)
            return
        respond(
            resp,
            {
                "symbol": symbol,
                "interval": query.interval.name,
                "count": len(page.candles),
                "candles": encoding.candles_json(page.candles),
                "cursor": cursor,
            },
        )
