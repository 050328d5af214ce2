"""The latest candle and trade of every active symbol, readable by REST's threads without
asking the store: GET /ohlc and /tick are asked far more often than a candle closes.

One writer, the store, and nothing published is changed in place, so a reader sees a value from
before a change or after it, never part of one. What is not here, REST asks the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from candlecast.market_data import Trade


class _Slot:
    __slots__ = ("candle", "trade")

    def __init__(self) -> None:
        self.candle: bytes | None = None
        self.trade: Trade | None = None


_NOTHING_YET = _Slot()


class Latest:
    def __init__(self) -> None:
        self._slots: Mapping[str, _Slot] = MappingProxyType({})

    def candle(self, symbol: str) -> bytes | None:
        """The latest closed candle's JSON body, or None when the store must be asked."""
        return self._slots.get(symbol, _NOTHING_YET).candle

    def trade(self, symbol: str) -> Trade | None:
        """The latest trade, or None when the store must be asked."""
        return self._slots.get(symbol, _NOTHING_YET).trade

    # The store's side.

    def add(self, symbol: str) -> None:
        if symbol not in self._slots:
            self._slots = MappingProxyType({**self._slots, symbol: _Slot()})

    def remove(self, symbol: str) -> None:
        self._slots = MappingProxyType({name: slot for name, slot in self._slots.items() if name != symbol})

    def publish_candle(self, symbol: str, body: bytes) -> None:
        self._slots[symbol].candle = body

    def publish_trades(self, trades: tuple[Trade, ...]) -> None:
        """The newest trade of each active symbol among ``trades``; an older one arriving late
        (two sockets overlapping) does not replace it."""
        slots = self._slots
        for trade in trades:
            slot = slots.get(trade.symbol)
            if slot is not None and (slot.trade is None or trade.trade_id > slot.trade.trade_id):
                slot.trade = trade

    def clear(self) -> None:
        """The store stopped: nothing here is kept current any more, so REST asks it (and hears it is gone)."""
        self._slots = MappingProxyType({})
