"""Trades waiting for their time: the one rule that nothing is published from the future.

A schedule wraps any time-ordered trade iterator (the random market or a replay) and hands
out the trades whose time the exchange clock has reached. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from candlecast.market_data import Trade


class Schedule:
    def __init__(self, trades: Iterable[Trade]) -> None:
        self._trades: Iterator[Trade] = iter(trades)
        self._head: Trade | None = next(self._trades, None)

    @property
    def next_time(self) -> int | None:
        """Exchange time of the next trade, or None once the stream is exhausted."""
        return None if self._head is None else self._head.time

    def take_due(self, now_ms: int) -> list[Trade]:
        due: list[Trade] = []
        while self._head is not None and self._head.time <= now_ms:
            due.append(self._head)
            self._head = next(self._trades, None)
        return due
