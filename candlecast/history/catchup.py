"""Catch-up after downtime: which seconds of a symbol a restart missed, between its last stored
candle and its first live one, and the candles that fill them over REST. Binance's own 1 s klines
fill them cheaply (a request of weight 2 for 1,000 seconds) but carry no trade ids; within the
backfill window each second is then rebuilt from ``aggTrades`` (asked for by time, as the range
is; exact to the trade) as a higher revision, which replaces the klines' version in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from decimal import Decimal

import msgspec

from candlecast.candles.series import second_candles, second_of
from candlecast.history import klines
from candlecast.history.intervals import SECOND_MS
from candlecast.market_data import Candle, Trade
from candlecast.messages.backfill import RequestBackfill
from candlecast.upstream.rest_client import UNDECODABLE, UpstreamUnavailable
from candlecast.upstream.trade_fetch import Fetcher, aggregate_pages

KLINES_REVISION = 0
# Above the klines' version of a second, so the store keeps the one rebuilt from trades.
TRADES_REVISION = 1
ERROR_CHARS = 200


@dataclasses.dataclass(frozen=True, slots=True)
class CatchUpRange:
    """The seconds of ``symbol`` after its last stored candle (``after_ms``) and before its first
    live one (``until_ms``): from ``fill_from_ms`` on filled from klines, from ``trades_from_ms``
    on rebuilt from trades too; those before ``fill_from_ms`` are past the window, left missing."""

    symbol: str
    after_ms: int
    until_ms: int
    fill_from_ms: int
    trades_from_ms: int

    @property
    def missing_s(self) -> int:
        """Seconds left missing: older than the catch-up window."""
        return (self.fill_from_ms - self.after_ms) // SECOND_MS - 1

    @property
    def filled_s(self) -> int:
        return (self.until_ms - self.fill_from_ms) // SECOND_MS

    @property
    def rebuilt_s(self) -> int:
        return (self.until_ms - self.trades_from_ms) // SECOND_MS


def plan(symbol: str, *, after_ms: int, until_ms: int, window_s: int, trades_window_s: int) -> CatchUpRange:
    """The catch-up of ``symbol`` whose last stored candle opened at ``after_ms`` and first live
    one at ``until_ms``: the last ``window_s`` seconds before ``until_ms`` are filled, the last
    ``trades_window_s`` of them rebuilt from trades too. Open times are whole seconds."""
    first = after_ms + SECOND_MS
    until = max(until_ms, first)
    fill_from = max(first, until - window_s * SECOND_MS)
    trades_from = max(fill_from, until - trades_window_s * SECOND_MS)
    return CatchUpRange(symbol, after_ms, until, fill_from, trades_from)


def kline_candles(bars: Sequence[Candle], start_ms: int, until_ms: int) -> list[Candle]:
    """Binance's 1 s klines of one symbol (``klines.parse_rows``), those opening in [start_ms,
    until_ms), as candles to store, marked as from klines. A second without trades is Binance's
    flat kline, already the candle a series publishes for it; trade ids stay -1, as Binance gives
    none. ValueError if a bar is not a whole second after the one before, or holds a price that
    is not positive or a volume below zero."""
    candles: list[Candle] = []
    previous = start_ms - SECOND_MS
    for bar in bars:
        if bar.open_time % SECOND_MS or bar.close_time != bar.open_time + SECOND_MS - 1 or bar.open_time <= previous:
            raise ValueError(f"kline at {bar.open_time} is not a 1 s bar after {previous}")
        previous = bar.open_time
        prices = (bar.open, bar.high, bar.low, bar.close)
        volumes = (bar.volume, bar.quote_volume, bar.taker_buy_volume, bar.taker_buy_quote_volume)
        if (
            not all(price.is_finite() and price > 0 for price in prices)
            or not all(volume.is_finite() and volume >= 0 for volume in volumes)
            or bar.trades < 0
            or not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        ):
            raise ValueError(f"kline at {bar.open_time} holds impossible values")
        if bar.open_time < until_ms:
            candles.append(msgspec.structs.replace(bar, revision=KLINES_REVISION, source="klines"))
    return candles


def kline_pages(fetcher: Fetcher, symbol: str, start_ms: int, until_ms: int) -> Iterator[tuple[list[Candle], int]]:
    """The klines of [start_ms, until_ms), up to 1,000 seconds a request: each page's candles,
    and the open time the next page starts at (``until_ms`` after the last)."""
    while start_ms < until_ms:
        params = {
            "symbol": symbol,
            "interval": "1s",
            "startTime": start_ms,
            "endTime": until_ms - 1,
            "limit": klines.MAX_LIMIT,
        }
        body = fetcher.get(klines.KLINES, params, klines.WEIGHT)
        try:
            bars = klines.parse_rows(symbol, body)
            candles = kline_candles(bars, start_ms, until_ms)
        except (ValueError, *UNDECODABLE) as exc:
            raise UpstreamUnavailable(f"GET {klines.KLINES}: malformed answer: {exc}"[:ERROR_CHARS]) from exc
        # A page short of the limit holds every bar left; a full one, those up to its last.
        next_ms = until_ms if len(bars) < klines.MAX_LIMIT else min(until_ms, bars[-1].open_time + SECOND_MS)
        yield candles, next_ms
        start_ms = next_ms


def trade_pages(
    fetcher: Fetcher, symbol: str, *, start_ms: int, until_ms: int, previous_close: Decimal
) -> Iterator[list[Candle]]:
    """Every second of [start_ms, until_ms) rebuilt from the exchange's aggregate trades, after a
    last price of ``previous_close``: per page of trades, the seconds it completes."""
    job = RequestBackfill(symbol=symbol, first_id=0, last_id=None, after_time=start_ms)
    next_s, last_s = second_of(start_ms), second_of(until_ms) - 1
    held: list[Trade] = []  # trades of seconds a later page may add to
    close = previous_close
    if next_s > last_s:
        return
    for page in aggregate_pages(fetcher, job):
        held.extend(t for t in page.trades if start_ms <= t.time < until_ms)
        passed = bool(page.trades) and page.trades[-1].time >= until_ms
        # Trades come in time order: every second before the newest one in hand is whole, and
        # all are once the trades pass the range or none are left.
        through_s = last_s if passed or page.finished else (second_of(held[-1].time) - 1 if held else next_s - 1)
        whole = [t for t in held if second_of(t.time) <= through_s]
        held = held[len(whole) :]
        candles = [
            msgspec.structs.replace(candle, revision=TRADES_REVISION, source="trades")
            for candle in second_candles(symbol, whole, previous_close=close, first_s=next_s, last_s=through_s)
        ]
        if candles:
            close = candles[-1].close
        next_s = max(next_s, through_s + 1)
        yield candles
        if next_s > last_s:
            return  # the trades after the range are the live stream's
