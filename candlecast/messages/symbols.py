"""What the registry is asked about symbols, and what it tells the actors that keep them."""

from __future__ import annotations

from typing import Any

import msgspec

from candlecast.messages.base import Message, Query


class AddSymbol(Query, frozen=True):
    """Answered with the symbol, now subscribed."""

    symbol: str


class RemoveSymbol(Query, frozen=True):
    """Answered with the symbol, no longer subscribed."""

    symbol: str


class ListSymbols(Query, frozen=True):
    """Answered with the sorted tuple of active symbols."""


class ListAvailable(Query, frozen=True):
    """Answered with the sorted tuple of symbols the exchange is TRADING."""


class ListHalted(Query, frozen=True):
    """Answered with the sorted tuple of subscribed symbols the exchange is not TRADING now."""


class ExchangeInfoLoaded(Message, frozen=True):
    """The exchange's TRADING symbols, and their exchangeInfo entries as the exchange wrote them
    (never changed once told), fetched by the registry's loader thread."""

    trading: frozenset[str]
    entries: dict[str, Any] = msgspec.field(default_factory=dict)


class GetSymbolEntries(Query, frozen=True):
    """Answered with the exchangeInfo entry of every subscribed symbol the exchange lists as
    TRADING, by symbol: what candlecast's own /api/v3/exchangeInfo serves."""


class SymbolActivated(Message, frozen=True):
    """``symbol`` is subscribed: keep its candles and ticks."""

    symbol: str


class SymbolDeactivated(Message, frozen=True):
    """``symbol`` is no longer subscribed: let what is kept of it go."""

    symbol: str
