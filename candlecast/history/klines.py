"""Binance's ``GET /api/v3/klines`` (and ``uiKlines``) on the wire: the request as Binance reads and
refuses it, which bars it selects, and the 12-element rows it answers. The simulator and
candlecast's own API both answer through here, and the catch-up reads Binance's rows with it.

Decimals go out as Binance writes them, with eight decimals; a sum with more decimals than that
(a quote volume of prices and quantities with eight each) goes out with all its digits, never rounded.
"""

from __future__ import annotations

from collections.abc import Container
from decimal import Decimal
from typing import Any

import msgspec

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import INTERVALS, Interval, parse_time_zone
from candlecast.history.store import KlineQuery
from candlecast.http import binance_request
from candlecast.http.binance_request import Params
from candlecast.market_data import Candle

KLINES = "/api/v3/klines"
UI_KLINES = "/api/v3/uiKlines"
WEIGHT = 2
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
PARAMETERS = ("symbol", "interval", "startTime", "endTime", "timeZone", "limit")
_DECIMALS = 8


class KlineRequest(msgspec.Struct, frozen=True):
    """A valid request: times in epoch ms (UTC whatever ``timeZone`` says), ``offset_ms`` from it."""

    symbol: str
    interval: Interval
    start_time: int | None
    end_time: int | None
    limit: int
    offset_ms: int = 0


def parse_request(params: Params, listed: Container[str]) -> KlineRequest:
    """The request ``params`` make, for a symbol of ``listed``; ``ApiError`` as Binance answers otherwise.

    Checked in order: a parameter sent twice (-1101); the symbol (-1102, -1100, -1121); the interval
    (-1102, -1120); the times and limit (-1100 unless digits); timeZone and a limit of 0 or above
    1000 (-1130, as Binance answers a limit past an endpoint's maximum); then any parameter klines
    does not read (-1104, counting those read against those sent).
    """
    values = {name: binance_request.single(params, name) for name in params}
    symbol = binance_request.symbol(values.get("symbol"), listed)
    raw_interval = values.get("interval")
    if raw_interval is None:
        raise binance_request.mandatory_missing("interval")
    interval = INTERVALS.get(raw_interval)
    if interval is None:
        raise binance_request.invalid_interval()
    start_time = binance_request.unsigned(values.get("startTime"), "startTime")
    end_time = binance_request.unsigned(values.get("endTime"), "endTime")
    limit = binance_request.unsigned(values.get("limit"), "limit")
    offset_ms = _offset(values.get("timeZone"))
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise binance_request.parameter_not_valid("limit")
    read = sum(1 for name in PARAMETERS if values.get(name) is not None)
    if read != len(params):
        raise binance_request.unread_parameters(read, len(params))
    return KlineRequest(symbol, interval, start_time, end_time, DEFAULT_LIMIT if limit is None else limit, offset_ms)


def _offset(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        return parse_time_zone(raw)
    except ValueError as exc:
        raise binance_request.parameter_not_valid("timeZone") from exc


def select(request: KlineRequest, latest_ms: int) -> KlineQuery | None:
    """The bars Binance answers ``request`` with, when the newest data is at ``latest_ms``; None for none.

    Bars open within [startTime, endTime] (endTime at most ``latest_ms``). With startTime, the
    first ``limit`` bars there are; without, the ``limit`` bar periods up to endTime (or the
    newest), so a period without data leaves its bar out rather than reaching further back.
    The query's ``end_ms`` is the last bar's close, so the 1 s candles it reads fill every bar.
    """
    interval, offset, limit = request.interval, request.offset_ms, request.limit
    end = latest_ms if request.end_time is None else min(request.end_time, latest_ms)
    if request.start_time is not None:
        if request.start_time > end:
            return None
        first = interval.start_of(request.start_time, offset)
        if first < request.start_time:
            first = interval.next_start(first, offset)
        last = interval.start_of(end, offset)
        if first > last:
            return None
    else:
        last = interval.start_of(end, offset)
        if interval.months:
            first = last
            for _ in range(limit - 1):
                first = interval.start_of(first - 1, offset)
        else:
            first = last - (limit - 1) * interval.length_ms
    return KlineQuery(request.symbol, interval, first, interval.next_start(last, offset) - 1, limit, offset)


def decimal_text(value: Decimal) -> str:
    """``value`` as Binance writes it: eight decimals, or every decimal it has if it has more."""
    text = str(value)  # positional for nearly every value, and cheaper than format()
    if "E" in text:
        text = f"{value:f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(_DECIMALS, '0')}"


def row(bar: Candle) -> list[Any]:
    """One element of the answer: Binance's 12 fields, the last one unused ("0")."""
    return [
        bar.open_time,
        decimal_text(bar.open),
        decimal_text(bar.high),
        decimal_text(bar.low),
        decimal_text(bar.close),
        decimal_text(bar.volume),
        bar.close_time,
        decimal_text(bar.quote_volume),
        bar.trades,
        decimal_text(bar.taker_buy_volume),
        decimal_text(bar.taker_buy_quote_volume),
        "0",
    ]


Row = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, int, Decimal, int, Decimal, Decimal, str]
_rows_decoder = msgspec.json.Decoder(list[Row])


def parse_rows(symbol: str, body: bytes) -> list[Candle]:
    """The bars of a klines answer, as candles of ``symbol`` (trade ids unknown: -1);
    ``msgspec.DecodeError`` or ``ValidationError`` if the answer is not Binance's shape."""
    return [
        Candle(
            symbol=symbol,
            open_time=r[0],
            close_time=r[6],
            open=r[1],
            high=r[2],
            low=r[3],
            close=r[4],
            volume=r[5],
            quote_volume=r[7],
            trades=r[8],
            taker_buy_volume=r[9],
            taker_buy_quote_volume=r[10],
            first_trade_id=NO_TRADE_ID,
            last_trade_id=NO_TRADE_ID,
        )
        for r in _rows_decoder.decode(body)
    ]
