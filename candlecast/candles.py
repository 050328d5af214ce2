"""Candle arithmetic with Binance kline semantics; pure, so it is tested without threads.

A trade belongs to second ``floor(T / 1000)`` of its exchange trade time. Sums use Decimal,
so volumes are exact. Taker-buy sums count trades whose buyer is the taker (``m`` false).
"""

from __future__ import annotations

from decimal import Decimal

from candlecast.messages import Candle, Trade

ZERO = Decimal(0)
NO_TRADE_ID = -1


def second_of(time_ms: int) -> int:
    return time_ms // 1000


class CandleBuilder:
    """The open candle of one second; mutable, so it lives inside a single aggregator."""

    __slots__ = (
        "symbol", "second", "open", "high", "low", "close", "volume", "quote_volume",
        "trades", "taker_buy_volume", "taker_buy_quote_volume", "first_trade_id", "last_trade_id",
    )

    def __init__(self, first: Trade) -> None:
        self.symbol = first.symbol
        self.second = second_of(first.time)
        self.open = self.high = self.low = first.price
        self.close = first.price
        self.volume = self.quote_volume = ZERO
        self.taker_buy_volume = self.taker_buy_quote_volume = ZERO
        self.trades = 0
        self.first_trade_id = first.trade_id
        self.last_trade_id = first.trade_id
        self.add(first)

    def add(self, trade: Trade) -> None:
        price = trade.price
        quote = price * trade.quantity
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += trade.quantity
        self.quote_volume += quote
        if not trade.buyer_is_maker:
            self.taker_buy_volume += trade.quantity
            self.taker_buy_quote_volume += quote
        self.trades += 1
        self.last_trade_id = trade.trade_id

    def build(self) -> Candle:
        open_time = self.second * 1000
        return Candle(
            symbol=self.symbol,
            open_time=open_time,
            close_time=open_time + 999,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            quote_volume=self.quote_volume,
            trades=self.trades,
            taker_buy_volume=self.taker_buy_volume,
            taker_buy_quote_volume=self.taker_buy_quote_volume,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
        )


def empty_candle(symbol: str, second: int, last_price: Decimal) -> Candle:
    """Binance's kline for a second without trades: flat at the previous close, ids -1."""
    open_time = second * 1000
    return Candle(
        symbol=symbol,
        open_time=open_time,
        close_time=open_time + 999,
        open=last_price,
        high=last_price,
        low=last_price,
        close=last_price,
        volume=ZERO,
        quote_volume=ZERO,
        trades=0,
        taker_buy_volume=ZERO,
        taker_buy_quote_volume=ZERO,
        first_trade_id=NO_TRADE_ID,
        last_trade_id=NO_TRADE_ID,
    )


class CandleSeries:
    """The candles of one symbol in order: which second is open, which are due, which are empty.

    The first second a stream is seen in may have started before the subscription, so it only
    supplies the last price; publishing starts with the first second observed whole. Each later
    second is published exactly once: early when a trade of a later second arrives, otherwise
    when the clock says the second (plus grace) has passed.
    """

    __slots__ = ("symbol", "fill_empty", "_open", "_next_second", "_warmup_second", "_last_price", "late_trades")

    def __init__(self, symbol: str, fill_empty: bool = True) -> None:
        self.symbol = symbol
        self.fill_empty = fill_empty
        self._open: CandleBuilder | None = None
        self._next_second: int | None = None
        self._warmup_second: int | None = None
        self._last_price: Decimal | None = None
        self.late_trades = 0

    @property
    def last_price(self) -> Decimal | None:
        return self._last_price

    def add(self, trade: Trade, closed: list[Candle]) -> None:
        """Fold ``trade`` in; candles it closes are appended to ``closed``."""
        second = second_of(trade.time)
        if self._next_second is None:
            self._warmup_second = second
            self._next_second = second + 1
        if second < self._next_second:
            if self._open is not None and second == self._open.second:
                self._open.add(trade)
                self._last_price = trade.price
            elif second == self._warmup_second and self._next_second == second + 1:
                self._last_price = trade.price
            else:
                self.late_trades += 1
            return
        self._close_through(second - 1, closed)
        self._open = CandleBuilder(trade)
        self._next_second = second + 1
        self._last_price = trade.price

    def elapse(self, second: int, closed: list[Candle]) -> None:
        """The clock passed the end of ``second``: close everything up to and including it."""
        if self._next_second is None:
            return
        pending_from = self._open.second if self._open is not None else self._next_second
        if pending_from <= second:
            self._close_through(second, closed)
            self._next_second = second + 1

    def _close_through(self, last_second: int, closed: list[Candle]) -> None:
        """Publish the open candle, then the empty seconds after it, through ``last_second``."""
        first_empty = self._next_second
        if self._open is not None:
            closed.append(self._open.build())
            first_empty = self._open.second + 1
            self._open = None
        if self.fill_empty and self._last_price is not None and first_empty is not None:
            for empty_second in range(first_empty, last_second + 1):
                closed.append(empty_candle(self.symbol, empty_second, self._last_price))
