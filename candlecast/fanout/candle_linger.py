"""The candles of a second wait a little for each other, so that a client gets a second's
candles in one write rather than one each (a write, not a byte, is what a client costs).
They wait until every symbol has closed the second (``complete``), the clock has closed it
(``close``: those candles set the latency's tail and never wait), or the first has waited
``linger_s``. They wait here, once, not per group of clients; anything else goes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

NOT_A_CANDLE = None

Item = TypeVar("Item")


class CandleLinger(Generic[Item]):
    def __init__(self, linger_s: float) -> None:
        self._linger_s = linger_s
        self._waiting: list[Item] = []
        self._since = 0.0  # when the first of them came
        self._second = -1  # the newest second among them
        self._closed = -1  # the clock's newest closed second

    def close(self, second: int) -> None:
        """Every candle of ``second`` and before has been closed (the clock's grace deadline)."""
        self._closed = max(self._closed, second)

    def take(self, fresh: Sequence[tuple[Item, int | None]], now: float, complete: Callable[[int], bool]) -> list[Item]:
        """What goes now, in order: ``fresh`` (item, its candle's second or NOT_A_CANDLE) that
        need not wait, and what waited once it may go. ``complete(second)``: whether every
        symbol has closed that second."""
        ready: list[Item] = []
        for item, second in fresh:
            if second is NOT_A_CANDLE or second <= self._closed:
                ready.append(item)
                continue
            if not self._waiting:
                self._since = now
            self._waiting.append(item)
            self._second = max(self._second, second)
        if self._waiting and (
            now - self._since >= self._linger_s or self._second <= self._closed or complete(self._second)
        ):
            ready += self.release()
        return ready

    def release(self) -> list[Item]:
        """Everything waiting, now (a client's subscriptions are about to change)."""
        waiting, self._waiting, self._second = self._waiting, [], -1
        return waiting
