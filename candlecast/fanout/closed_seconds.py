"""The newest second each symbol has closed, as its candles reach the broadcaster, so that a
second's candles go out the moment the last symbol closes it rather than at the next tick:
at the clock's grace deadline every quiet symbol closes the same second at once."""

from __future__ import annotations

import collections


class ClosedSeconds:
    def __init__(self) -> None:
        self._newest: dict[str, int] = {}
        # How many symbols have each second as their newest: the oldest of them is the second
        # every symbol has closed, found among a few keys rather than every symbol.
        self._symbols_at: collections.Counter[int] = collections.Counter()

    def add(self, symbol: str, second: int) -> bool:
        """Note a candle of ``second``; True when it was the last symbol's, completing a second."""
        newest = self._newest.get(symbol)
        if newest is not None and second <= newest:
            return False  # a revision: nothing new is complete
        self._newest[symbol] = second
        self._symbols_at[second] += 1
        if newest is None:
            return False  # a symbol's first candle: what was complete without it still is
        completed_before = min(self._symbols_at)
        self._leave(newest)
        return min(self._symbols_at) > completed_before

    def forget(self, symbol: str) -> None:
        """A symbol no longer subscribed closes no more seconds."""
        newest = self._newest.pop(symbol, None)
        if newest is not None:
            self._leave(newest)

    def complete(self, second: int) -> bool:
        """Whether every symbol has closed ``second``."""
        return not self._symbols_at or min(self._symbols_at) >= second

    def _leave(self, second: int) -> None:
        self._symbols_at[second] -= 1
        if not self._symbols_at[second]:
            del self._symbols_at[second]
