"""Trades a reader has parsed but not yet told to their aggregators, grouped by symbol.

A symbol's trades are held and go together when a trade of a later second arrives (it closes
the earlier candle at once), ``full_batch`` are held, the first one's second has ended plus
``settle_s``, or it was read ``max_hold_s`` ago: fewer messages than a tell per trade, without
leaving every symbol's second to be aggregated in one burst. Pure data, inside one reader.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from candlecast.market_data import Trade, TradeBatch


class _Held:
    __slots__ = ("due", "trades")

    def __init__(self, due: float, first: Trade) -> None:
        self.due = due
        self.trades = [first]


class HeldTrades:
    __slots__ = ("_full_batch", "_held", "_max_hold_s", "_newest_second", "_next_due", "_ready", "_settle_s")

    def __init__(self, settle_s: float, full_batch: int, max_hold_s: float) -> None:
        self._settle_s = settle_s
        self._full_batch = full_batch
        self._max_hold_s = max_hold_s
        self._held: dict[str, _Held] = {}
        self._newest_second: dict[str, int] = {}
        self._ready: dict[str, None] = {}  # symbols to tell after this read, in order
        self._next_due = math.inf

    def add(self, trades: Iterable[Trade], now: float) -> None:
        """Hold the trades of one read made at ``now`` (monotonic seconds)."""
        held_trades, newest_seconds, ready = self._held, self._newest_second, self._ready
        for trade in trades:
            symbol = trade.symbol
            second, into_ms = divmod(trade.time, 1000)
            newest = newest_seconds.get(symbol, second)
            if second >= newest:
                newest_seconds[symbol] = second
            held = held_trades.get(symbol)
            if held is None:
                due = now + min((1000 - into_ms) / 1000 + self._settle_s, self._max_hold_s)
                held_trades[symbol] = held = _Held(due, trade)
                self._next_due = min(self._next_due, due)
            else:
                held.trades.append(trade)
            if second > newest or len(held.trades) >= self._full_batch:
                ready[symbol] = None

    def wait_s(self, now: float) -> float | None:
        """How long until the next symbol is due; None when nothing is held."""
        if not self._held:
            return None
        return max(0.0, self._next_due - now)

    def take_due(self, now: float) -> list[TradeBatch]:
        """The batches to tell after a read at ``now``: symbols made ready by it, then those due."""
        ready, self._ready = self._ready, {}
        if now >= self._next_due:
            ready.update((symbol, None) for symbol, held in self._held.items() if held.due <= now)
        if not ready:
            return []
        batches = []
        recompute = False
        for symbol in ready:
            held = self._held.pop(symbol)
            recompute = recompute or held.due <= self._next_due
            batches.append(TradeBatch(symbol=symbol, trades=tuple(held.trades)))
        if recompute:
            self._next_due = min((held.due for held in self._held.values()), default=math.inf)
        return batches

    def take_before(self, second: int) -> list[TradeBatch]:
        """The batches of symbols whose newest trade is of a second before ``second``: the clock
        is about to hear that those seconds may close."""
        symbols = [symbol for symbol in self._held if self._newest_second[symbol] < second]
        if not symbols:
            return []
        batches = []
        for symbol in symbols:
            self._ready.pop(symbol, None)
            batches.append(TradeBatch(symbol=symbol, trades=tuple(self._held.pop(symbol).trades)))
        self._next_due = min((held.due for held in self._held.values()), default=math.inf)
        return batches

    def take(self, symbol: str) -> list[TradeBatch]:
        """The batch of ``symbol`` now, if any: something that must reach its aggregator after
        them is about to be told."""
        held = self._held.pop(symbol, None)
        if held is None:
            return []
        self._ready.pop(symbol, None)
        if held.due <= self._next_due:
            self._next_due = min((h.due for h in self._held.values()), default=math.inf)
        return [TradeBatch(symbol=symbol, trades=tuple(held.trades))]

    def take_all(self) -> list[TradeBatch]:
        held, self._held, self._next_due = self._held, {}, math.inf
        self._ready = {}
        return [TradeBatch(symbol=symbol, trades=tuple(h.trades)) for symbol, h in held.items()]
