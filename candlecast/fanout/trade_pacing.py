"""The trade channel's pace: each trade once, and each symbol's trades at most every
``interval_s``. Two upstream sockets overlap while one replaces the other and repeat trades,
so ids sent are remembered; trades arriving sooner than the interval are held and go together
once it has passed (``due``, on the broadcaster's tick)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from candlecast.candles.trade_ids import TradeIds
from candlecast.fanout.subscriptions import ALL_SYMBOLS
from candlecast.market_data import Trade, TradeBatch

# Ids sent are remembered as ranges; holes (upstream gaps) add ranges, and only the newest
# few can still be repeated by an overlapping socket.
TRADE_ID_RANGES = 8
_LONG_AGO = -1e9


class TradePacing:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._ids: dict[str, TradeIds] = {}  # of each symbol someone wanted trades of
        self._held: dict[str, list[Trade]] = {}
        self._sent_at: dict[str, float] = {}

    def arrived(self, trades: Iterable[Trade], wanted: Collection[str], now: float) -> list[TradeBatch]:
        """One upstream read's trades: of the symbols in ``wanted`` (``ALL_SYMBOLS``: every one),
        those not seen before, per symbol; what may go ``now``, the rest held."""
        if not wanted:
            return []
        every_symbol = ALL_SYMBOLS in wanted
        fresh: dict[str, list[Trade]] = {}
        for trade in trades:
            if every_symbol or trade.symbol in wanted:
                ids = self._ids.get(trade.symbol)
                if ids is None:
                    ids = self._ids[trade.symbol] = TradeIds()
                if ids.add(trade.trade_id, trade.last_trade_id, trade.time):
                    fresh.setdefault(trade.symbol, []).append(trade)
        going: list[TradeBatch] = []
        for symbol, symbol_trades in fresh.items():
            self._ids[symbol].keep_newest(TRADE_ID_RANGES)
            held = self._held.get(symbol)
            if held is not None:
                held.extend(symbol_trades)
            elif now - self._sent_at.get(symbol, _LONG_AGO) >= self._interval_s:
                going.append(self._send(symbol, symbol_trades, now))
            else:
                self._held[symbol] = symbol_trades
        return going

    def due(self, now: float) -> list[TradeBatch]:
        """The trades held whose symbol's interval has passed."""
        ready = [symbol for symbol in self._held if now - self._sent_at[symbol] >= self._interval_s]
        return [self._send(symbol, self._held.pop(symbol), now) for symbol in ready]

    def forget(self, symbol: str) -> None:
        """A symbol no longer subscribed upstream: its ids, held trades and pace start afresh."""
        self._ids.pop(symbol, None)
        self._held.pop(symbol, None)
        self._sent_at.pop(symbol, None)

    def _send(self, symbol: str, trades: list[Trade], now: float) -> TradeBatch:
        self._sent_at[symbol] = now
        return TradeBatch(symbol=symbol, trades=tuple(trades))
