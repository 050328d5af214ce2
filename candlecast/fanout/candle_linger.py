"""The candles of a second wait a little for each other, so that a client gets the candles of
one second in one write rather than one write each.

A client costs the server its writes (a system call and the kernel's TCP work each), hardly
its bytes: ten symbols whose candles close at ten moments of the same second were ten writes
per client and second. Candles of a second not yet closed wait, in arrival order, until every
symbol has closed that second (``complete``), the clock says it is closed (``close``: the grace
deadline, whose candles set the latency's tail and so never wait), or the first of them has
waited ``linger_s``; then they go together. They wait here, once, rather than per group of
clients: with a group per client, a look at every group on every tick was most of the
fan-out's work. Everything else (trades, gap events, revisions of closed seconds) goes at once.

Owned by the broadcaster, which sends what is released to the groups that want it.
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
