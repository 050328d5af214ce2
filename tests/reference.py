"""An independent, brute-force computation of Binance 1-second klines, used as the oracle."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from candlecast.market_data import Candle, Trade


def reference_candles(
    trades: Iterable[Trade], first_second: int, last_second: int, fill_empty: bool = True
) -> list[Candle]:
    """Klines for every second in [first_second, last_second] from the complete trade list."""
    ordered = sorted(trades, key=lambda t: t.trade_id)
    by_second: dict[int, list[Trade]] = defaultdict(list)
    for trade in ordered:
        by_second[trade.time // 1000].append(trade)
    candles = []
    for second in range(first_second, last_second + 1):
        group = by_second.get(second, [])
        if group:
            prices = [t.price for t in group]
            candles.append(
                Candle(
                    symbol=group[0].symbol,
                    open_time=second * 1000,
                    close_time=second * 1000 + 999,
                    open=prices[0],
                    high=max(prices),
                    low=min(prices),
                    close=prices[-1],
                    volume=sum((t.quantity for t in group), Decimal(0)),
                    quote_volume=sum((t.price * t.quantity for t in group), Decimal(0)),
                    trades=len(group),
                    taker_buy_volume=sum((t.quantity for t in group if not t.buyer_is_maker), Decimal(0)),
                    taker_buy_quote_volume=sum(
                        (t.price * t.quantity for t in group if not t.buyer_is_maker), Decimal(0)
                    ),
                    first_trade_id=group[0].trade_id,
                    last_trade_id=group[-1].trade_id,
                )
            )
        elif fill_empty:
            earlier = [t for t in ordered if t.time // 1000 < second]
            if earlier:
                price = earlier[-1].price
                candles.append(
                    Candle(
                        symbol=earlier[-1].symbol,
                        open_time=second * 1000,
                        close_time=second * 1000 + 999,
                        open=price,
                        high=price,
                        low=price,
                        close=price,
                        volume=Decimal(0),
                        quote_volume=Decimal(0),
                        trades=0,
                        taker_buy_volume=Decimal(0),
                        taker_buy_quote_volume=Decimal(0),
                        first_trade_id=-1,
                        last_trade_id=-1,
                    )
                )
    return candles
