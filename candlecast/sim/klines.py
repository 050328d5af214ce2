"""The simulated exchange's klines, computed from its own trade record as Binance computes its own:
a 1 s candle for every second from the first trade on (flat at the last price when a second has
no trade, up to the current second, which is still open), rolled up into the interval asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from candlecast.candles.series import second_candles, second_of
from candlecast.history.rollup import roll_up
from candlecast.history.store import KlineQuery
from candlecast.market_data import Candle, Trade


def bars(query: KlineQuery, previous_close: Decimal | None, trades: Sequence[Trade], now_ms: int) -> list[Candle]:
    """The bars ``query`` selects, from the ``trades`` opening in its range (time order) after a
    last price of ``previous_close``, with seconds up to ``now_ms`` only."""
    first_s = second_of(query.start_ms)
    if previous_close is None:
        if not trades:
            return []
        first_s = max(first_s, second_of(trades[0].time))
    last_s = second_of(min(query.end_ms, now_ms))
    seconds = second_candles(query.symbol, trades, previous_close=previous_close, first_s=first_s, last_s=last_s)
    return roll_up(seconds, query.interval, query.offset_ms)[: query.limit]
