"""Bars of any interval folded from 1 s candles in Python Decimal: the definition every engine's
SQL roll-up is tested against, and how the simulator answers ``klines`` from its own trades.
Prices follow Binance's rule that a kline is made of the trades in it, so flat seconds (no
trades) carry the close but never set a bar's open, high or low."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import Interval
from candlecast.history.store import SOURCE_ORDER
from candlecast.market_data import Candle


def roll_up(candles: Iterable[Candle], interval: Interval, offset_ms: int = 0) -> list[Candle]:
    """Fold 1 s ``candles`` of one symbol, in ascending open time, into bars of ``interval``
    (boundaries at UTC + ``offset_ms``): the open of the first second with trades, the highest
    high and lowest low of the seconds with trades, the close of the last second, or, when no
    second traded, flat at the first second's open (the previous close) with the last second's
    close; exact sums, the first and last trade id of the seconds that had them (-1 if none did),
    the highest revision, complete only if every second is, and the least exact source of any
    second (``SOURCE_ORDER``). Bars fold as seconds do, so pieces of one bar join the same way."""
    bars: list[Candle] = []
    for start, seconds in itertools.groupby(candles, key=lambda candle: interval.start_of(candle.open_time, offset_ms)):
        bars.append(_bar(list(seconds), start, interval.next_start(start, offset_ms) - 1))
    return bars


def _bar(seconds: Sequence[Candle], open_time: int, close_time: int) -> Candle:
    traded = [candle for candle in seconds if candle.trades > 0]
    if traded:
        opened, high, low = traded[0].open, max(c.high for c in traded), min(c.low for c in traded)
    else:
        opened = high = low = seconds[0].open
    ids_first = [candle.first_trade_id for candle in seconds if candle.first_trade_id != NO_TRADE_ID]
    ids_last = [candle.last_trade_id for candle in seconds if candle.last_trade_id != NO_TRADE_ID]
    return Candle(
        seconds[0].symbol,
        open_time,
        close_time,
        opened,
        high,
        low,
        seconds[-1].close,
        sum((candle.volume for candle in seconds), Decimal(0)),
        sum((candle.quote_volume for candle in seconds), Decimal(0)),
        sum(candle.trades for candle in seconds),
        sum((candle.taker_buy_volume for candle in seconds), Decimal(0)),
        sum((candle.taker_buy_quote_volume for candle in seconds), Decimal(0)),
        ids_first[0] if ids_first else NO_TRADE_ID,
        ids_last[-1] if ids_last else NO_TRADE_ID,
        max(candle.revision for candle in seconds),
        all(candle.complete for candle in seconds),
        min((candle.source for candle in seconds), key=SOURCE_ORDER.index),
    )
