"""What the registry is asked about symbols, and what it tells those that keep them."""

from __future__ import annotations

from candlecast.messages.base import Message, Query


class AddSymbol(Query):
    symbol: str


class RemoveSymbol(Query):
    symbol: str


class ListSymbols(Query):
    """Answered with the sorted tuple of active symbols."""


class ListAvailable(Query):
    """Answered with the sorted tuple of symbols the exchange is TRADING."""


class ListHalted(Query):
    """Answered with the sorted tuple of subscribed symbols the exchange is not TRADING now."""


class ExchangeInfoLoaded(Message):
    """The exchange's TRADING symbols, fetched by the registry's loader thread."""

    trading: frozenset[str]


class SymbolActivated(Message):
    symbol: str


class SymbolDeactivated(Message):
    symbol: str
