"""What every candle store engine does: the embedded SQLite file and PostgreSQL answer the same
calls, and one contract test suite runs against both.

A store is written by the history writer (and, after a restart, the catch-up) and read by many
threads (REST, replays), so each engine keeps one connection per thread. Every value crosses as
``Candle`` with exact Decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

from candlecast.history.intervals import Interval
from candlecast.market_data import Candle, CandleSource

# Candle sources, least exact first: a bar takes the first of them any of its seconds has, so
# a bar with one second from klines (no trade ids) says so. Engines store a source as its index.
SOURCE_ORDER: tuple[CandleSource, ...] = ("klines", "trades", "live")


class KlineQuery(msgspec.Struct, frozen=True):
    """Bars of ``interval`` for ``symbol`` opening in [start_ms, end_ms], at most ``limit``, with
    boundaries at local time UTC + ``offset_ms`` (Binance's ``timeZone``)."""

    symbol: str
    interval: Interval
    start_ms: int
    end_ms: int
    limit: int
    offset_ms: int = 0


class CandleStore(Protocol):
    def write(self, candles: Sequence[Candle]) -> list[Candle]:
        """Keep ``candles`` (1 s, any symbols) in one transaction. A stored candle is replaced only
        by one of the same symbol and open time with a higher revision, so the newest revision
        wins whatever order writes arrive in. Returns the candles not kept because the engine
        cannot hold one of their values exactly (nothing is ever rounded)."""

    def candles(self, symbol: str, start_ms: int, end_ms: int, limit: int) -> list[Candle]:
        """Up to ``limit`` stored 1 s candles of ``symbol`` opening in [start_ms, end_ms], oldest first."""

    def newest(self, symbol: str, limit: int) -> list[Candle]:
        """The newest ``limit`` stored 1 s candles of ``symbol``, oldest first."""

    def klines(self, query: KlineQuery) -> list[Candle]:
        """The bars ``query`` asks for, oldest first, rolled up exactly from the stored 1 s candles
        opening in [start_ms, end_ms]: equal to ``rollup.roll_up`` of those candles, so open, high
        and low come from the seconds with trades, as Binance's klines. ``close_time`` is the bar's
        end less 1 ms, as Binance gives it; bars without a stored second are absent."""

    def last_open_time(self, symbol: str) -> int | None:
        """Open time of the newest stored candle of ``symbol``, None if there is none."""

    def delete_before(self, cutoff_ms: int, most: int) -> int:
        """Delete up to ``most`` candles opening before ``cutoff_ms``; returns how many went."""

    def symbols(self) -> tuple[str, ...]:
        """The saved active symbol set, sorted; empty if none was saved."""

    def save_symbols(self, symbols: Iterable[str]) -> None:
        """Replace the saved active symbol set."""

    def close(self) -> None:
        """Close every connection this store opened."""
