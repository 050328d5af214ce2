"""Trades a reader has parsed but not yet told to their aggregators, grouped by symbol.

Each tell wakes an aggregator's thread, and with many quiet symbols a read brings about one
trade per symbol, so telling after every read costs a wake-up (and the aggregator's own
tells onward) per trade. A symbol's trades are therefore held until there are
``full_batch`` of them, or until the oldest has waited ``max_hold_s``: busy symbols go out
after every read, quiet ones at most ``max_hold_s`` late. Pure data: it lives inside one
reader thread.
"""

from __future__ import annotations

from candlecast.messages import Trade, TradeBatch


class HeldTrades:
    __slots__ = ("_max_hold_s", "_full_batch", "_trades", "_since")

    def __init__(self, max_hold_s: float, full_batch: int) -> None:
        self._max_hold_s = max_hold_s
        self._full_batch = full_batch
        self._trades: dict[str, list[Trade]] = {}
        self._since: float | None = None  # when the oldest held trade was read

    def add(self, trade: Trade) -> None:
        trades = self._trades.get(trade.symbol)
        if trades is None:
            self._trades[trade.symbol] = [trade]
        else:
            trades.append(trade)

    def wait_s(self, now: float) -> float | None:
        """How long until everything held is due; None when nothing is held."""
        if self._since is None:
            return None
        return max(0.0, self._since + self._max_hold_s - now)

    def take_due(self, now: float) -> list[TradeBatch]:
        """The batches due at ``now``, in the order their symbols were first held.

        Call after each read: the trades added since the previous call count as read ``now``.
        """
        if not self._trades:
            return []
        if self._since is None:
            self._since = now
        if now - self._since >= self._max_hold_s:
            return self.take_all()
        due = [symbol for symbol, trades in self._trades.items() if len(trades) >= self._full_batch]
        batches = [TradeBatch(symbol=symbol, trades=tuple(self._trades.pop(symbol))) for symbol in due]
        if not self._trades:
            self._since = None
        return batches

    def take_all(self) -> list[TradeBatch]:
        trades, self._trades, self._since = self._trades, {}, None
        return [TradeBatch(symbol=symbol, trades=tuple(held)) for symbol, held in trades.items()]
