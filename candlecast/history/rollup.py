"""Bars of any interval folded from 1 s candles in Python Decimal: the definition every engine's
SQL roll-up is tested against, and how the simulator answers ``klines`` from its own trades."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import Interval
from candlecast.history.store import SOURCE_ORDER
from candlecast.market_data import Candle


def roll_up(candles: Iterable[Candle], interval: Interval, offset_ms: int = 0) -> list[Candle]:
    """Fold 1 s ``candles`` of one symbol, in ascending open time, into bars of ``interval``
    (boundaries at UTC + ``offset_ms``): open of the first second, close of the last, highest
    high, lowest low, exact sums, the first and last trade id of the seconds that had trades
    (-1 if none did), the highest revision, complete only if every second is, and the least
    exact source of any second (``SOURCE_ORDER``)."""
    bars: list[Candle] = []
    bar: Candle | None = None
    for candle in candles:
        start = interval.start_of(candle.open_time, offset_ms)
        if bar is None or bar.open_time != start:
            if bar is not None:
                bars.append(bar)
            close_time = interval.next_start(start, offset_ms) - 1
            bar = msgspec.structs.replace(candle, open_time=start, close_time=close_time)
            continue
        bar = msgspec.structs.replace(
            bar,
            high=max(bar.high, candle.high),
            low=min(bar.low, candle.low),
            close=candle.close,
            volume=bar.volume + candle.volume,
            quote_volume=bar.quote_volume + candle.quote_volume,
            trades=bar.trades + candle.trades,
            taker_buy_volume=bar.taker_buy_volume + candle.taker_buy_volume,
            taker_buy_quote_volume=bar.taker_buy_quote_volume + candle.taker_buy_quote_volume,
            first_trade_id=bar.first_trade_id if bar.first_trade_id != NO_TRADE_ID else candle.first_trade_id,
            last_trade_id=candle.last_trade_id if candle.last_trade_id != NO_TRADE_ID else bar.last_trade_id,
            revision=max(bar.revision, candle.revision),
            complete=bar.complete and candle.complete,
            source=min(bar.source, candle.source, key=SOURCE_ORDER.index),
        )
    if bar is not None:
        bars.append(bar)
    return bars
