"""Trades a reader has parsed but not yet told to its trade listeners (the trade channel, the
latest tick), of every symbol, in arrival order.

They go together every ``every_s`` rather than one tell per read, which would wake the
listeners thousands of times a second. Pure data: it lives inside one reader thread.
"""

from __future__ import annotations

from candlecast.market_data import Trade, TradesArrived


class Arrivals:
    __slots__ = ("_due", "_every_s", "_trades")

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._trades: list[Trade] = []
        self._due = 0.0

    def add(self, trades: list[Trade], now: float) -> None:
        """Trades of one read made at ``now`` (monotonic seconds)."""
        if not self._trades:
            self._due = now + self._every_s
        self._trades.extend(trades)

    def wait_s(self, now: float) -> float | None:
        """How long until they are due; None when there are none."""
        if not self._trades:
            return None
        return max(0.0, self._due - now)

    def take_due(self, now: float) -> TradesArrived | None:
        if not self._trades or now < self._due:
            return None
        return self.take_all()

    def take_all(self) -> TradesArrived | None:
        if not self._trades:
            return None
        trades, self._trades = self._trades, []
        return TradesArrived(trades=tuple(trades))
