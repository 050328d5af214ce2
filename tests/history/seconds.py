"""1 s candles built for the history tests: every field given or a plain default."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Candle, CandleSource

# 2026-12-31 23:58:00 UTC, two minutes before a new year.
NEAR_NEW_YEAR_MS = 1_798_761_480_000


def second(
    open_time: int,
    *,
    symbol: str = "BTCUSDT",
    prices: tuple[str, str, str, str] = ("100", "101", "99", "100.5"),
    volume: str = "1",
    quote_volume: str = "100",
    trades: int = 1,
    taker: tuple[str, str] = ("0.5", "50"),
    trade_ids: tuple[int, int] = (1, 1),
    revision: int = 0,
    complete: bool = True,
    source: CandleSource = "live",
) -> Candle:
    o, h, lo, c = (Decimal(price) for price in prices)
    return Candle(
        symbol,
        open_time,
        open_time + 999,
        o,
        h,
        lo,
        c,
        Decimal(volume),
        Decimal(quote_volume),
        trades,
        Decimal(taker[0]),
        Decimal(taker[1]),
        trade_ids[0],
        trade_ids[1],
        revision,
        complete,
        source,
    )
