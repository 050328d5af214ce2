"""Candles and gap events waiting for the broadcaster's next publish, in arrival order. A candle
revised before it went out goes once, at its newest revision and its newest place."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable

from candlecast.market_data import Candle, GapEvent


class PendingEvents:
    def __init__(self) -> None:
        self._events: dict[Hashable, Candle | GapEvent] = {}  # a candle's key: (symbol, open time)
        self._keys = itertools.count()

    def candle(self, candle: Candle) -> None:
        key = (candle.symbol, candle.open_time)
        self._events.pop(key, None)
        self._events[key] = candle

    def gap(self, event: GapEvent) -> None:
        self._events[next(self._keys)] = event

    def take(self) -> Iterable[Candle | GapEvent]:
        """Everything waiting, oldest first; nothing waits after."""
        events, self._events = self._events, {}
        return events.values()
