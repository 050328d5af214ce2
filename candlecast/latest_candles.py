"""The latest candle of every active symbol as GET /ohlc serves it, readable by REST's threads
without asking the store.

An ask is two thread handoffs, the request's thread to the store's and back, and on a small
virtual machine those cost more than the rest of the request (docs/performance.md, REST).
/ohlc is asked far more often than a candle closes, so the store publishes each symbol's
latest body here once, and REST reads it.

One writer, the store, and nothing published is ever changed in place: a symbol coming or going
replaces the whole mapping of symbols to slots, a candle replaces its slot's body. A reader sees
a value from before a change or after it, never part of one. The slots spare a copy of the
mapping per candle (a thousand symbols close a thousand candles a second). What is not here (a
symbol not subscribed, just added, or without a closed candle yet) REST asks the store, whose
answer names the error.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping


class _Slot:
    __slots__ = ("body",)

    def __init__(self) -> None:
        self.body: bytes | None = None


class LatestCandles:
    def __init__(self) -> None:
        self._slots: Mapping[str, _Slot] = MappingProxyType({})

    def body(self, symbol: str) -> bytes | None:
        """The latest closed candle's JSON body, or None when the store must be asked."""
        slot = self._slots.get(symbol)
        return None if slot is None else slot.body

    # The store's side.

    def add(self, symbol: str) -> None:
        if symbol not in self._slots:
            self._slots = MappingProxyType({**self._slots, symbol: _Slot()})

    def remove(self, symbol: str) -> None:
        self._slots = MappingProxyType({name: slot for name, slot in self._slots.items() if name != symbol})

    def publish(self, symbol: str, body: bytes) -> None:
        self._slots[symbol].body = body

    def clear(self) -> None:
        """The store stopped: nothing here is kept current any more, so REST asks it (and hears it is gone)."""
        self._slots = MappingProxyType({})
