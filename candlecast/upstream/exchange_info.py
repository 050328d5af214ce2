"""The symbols Binance is trading, read from an ``/api/v3/exchangeInfo`` answer.

The answer is checked at the edge with a typed decode: anything but a ``symbols`` list of
``{"symbol", "status"}`` entries (more fields are ignored), or a list with no symbol at all,
is a failed request to retry, never a reason to drop subscriptions.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from candlecast.upstream.binance import SYMBOL_PATTERN
from candlecast.upstream.rest_client import UpstreamUnavailable, decode, fetch

PATH = "/api/v3/exchangeInfo"
TRADING = "TRADING"


class SymbolEntry(msgspec.Struct, frozen=True):
    """One element of ``symbols``: its ``status`` is TRADING, BREAK, HALT... (any other is not trading)."""

    symbol: Annotated[str, msgspec.Meta(pattern=SYMBOL_PATTERN.pattern)]
    status: str


class ExchangeInfo(msgspec.Struct, frozen=True):
    symbols: list[SymbolEntry]


class _Entries(msgspec.Struct, frozen=True):
    symbols: list[dict[str, Any]]


_decoder = msgspec.json.Decoder(ExchangeInfo)
_entries_decoder = msgspec.json.Decoder(_Entries)


def trading_symbols(body: bytes) -> frozenset[str]:
    """The symbols whose status is TRADING in the answer ``body``; UpstreamUnavailable if it is malformed."""
    info = decode(PATH, body, _decoder)
    if not info.symbols:
        raise UpstreamUnavailable(f"GET {PATH}: malformed answer: it lists no symbols")
    return frozenset(entry.symbol for entry in info.symbols if entry.status == TRADING)


def trading_entries(body: bytes) -> dict[str, dict[str, Any]]:
    """The ``symbols`` entries of the TRADING symbols in the answer ``body``, by symbol, as the
    exchange wrote them (what candlecast's own ``exchangeInfo`` passes on); checked as ``trading_symbols``."""
    trading = trading_symbols(body)
    return {
        entry["symbol"]: entry for entry in decode(PATH, body, _entries_decoder).symbols if entry["symbol"] in trading
    }


def fetch_trading_entries(rest_url: str) -> dict[str, dict[str, Any]]:
    return trading_entries(fetch(rest_url, PATH).body)
