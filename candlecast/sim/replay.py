"""Recorded Binance trades, replayed as if they were happening now.

Reads nautilus and freqtrade CSV layouts. Times move so the first trade falls in a chosen second;
each trade keeps its millisecond within its second, so every non-empty 1-second candle equals
the recorded one. Long quiet stretches are shortened so a replay does not idle for hours.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import msgspec

from candlecast.market_data import Trade
from candlecast.upstream.binance import is_valid_symbol, normalize_symbol

_TRUE = frozenset({"true", "1", "yes"})


def _buyer_maker_flag(row: dict[str, str]) -> bool:
    return row["buyer_maker"].strip().lower() in _TRUE


def _taker_sold(row: dict[str, str]) -> bool:
    return row["taker_side"].strip().lower() == "sell"


# Columns that identify a layout -> (quantity column, how to read buyer_is_maker).
_LAYOUTS: dict[frozenset[str], tuple[str, Callable[[dict[str, str]], bool]]] = {
    frozenset({"trade_id", "price", "quantity", "time_ms", "buyer_maker"}): ("quantity", _buyer_maker_flag),
    frozenset({"trade_id", "price", "amount", "time_ms", "taker_side"}): ("amount", _taker_sold),
}


def symbol_from_file_name(path: Path) -> str | None:
    """``nautilus_btcusdt_trades_2021-01-08.csv`` -> BTCUSDT: the word before ``trades``."""
    parts = path.stem.split("_")
    if "trades" not in parts[1:]:
        return None
    return normalize_symbol(parts[parts.index("trades", 1) - 1])


def read_trades(path: Path, symbol: str, limit: int | None = None) -> tuple[Trade, ...]:
    trades: list[Trade] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        layout = _LAYOUTS.get(frozenset(reader.fieldnames or ()))
        if layout is None:
            raise ValueError(f"{path}: unknown trade file columns {reader.fieldnames}")
        quantity_column, buyer_is_maker = layout
        for row in reader:
            if limit is not None and len(trades) >= limit:
                break
            trades.append(
                Trade(
                    symbol=symbol,
                    trade_id=int(row["trade_id"]),
                    price=Decimal(row["price"]),
                    quantity=Decimal(row[quantity_column]),
                    time=int(row["time_ms"]),
                    buyer_is_maker=buyer_is_maker(row),
                )
            )
    if any(later.time < earlier.time for earlier, later in itertools.pairwise(trades)):
        raise ValueError(f"{path}: trade times go backwards")
    return tuple(trades)


def move_to(trades: Iterable[Trade], start_ms: int, max_quiet_seconds: int) -> tuple[Trade, ...]:
    """Shift ``trades`` so the first lands in the second starting at ``start_ms``.

    Gaps of more than ``max_quiet_seconds`` empty seconds shrink to that many.
    """
    if start_ms % 1000:
        raise ValueError("start_ms must be on a second boundary")
    moved: list[Trade] = []
    target = start_ms // 1000
    previous: int | None = None
    for trade in trades:
        second, millisecond = divmod(trade.time, 1000)
        if previous is not None:
            target += min(second - previous, max_quiet_seconds + 1)
        previous = second
        moved.append(msgspec.structs.replace(trade, time=target * 1000 + millisecond))
    return tuple(moved)


class ReplaySource:
    """A recorded trade file to replay; read (and checked) when constructed."""

    def __init__(
        self,
        path: str | Path,
        symbol: str | None = None,
        limit_trades: int | None = None,
        max_quiet_seconds: int = 2,
    ) -> None:
        self.path = Path(path)
        named = normalize_symbol(symbol) if symbol else symbol_from_file_name(self.path)
        if named is None or not is_valid_symbol(named):
            raise ValueError(f"{self.path}: pass the symbol; it cannot be read from the file name")
        if max_quiet_seconds < 0:
            raise ValueError("max_quiet_seconds must not be negative")
        self.symbol = named
        self.max_quiet_seconds = max_quiet_seconds
        self.recorded = read_trades(self.path, named, limit_trades)

    def trades_from(self, start_ms: int) -> tuple[Trade, ...]:
        """The recorded trades as they will happen when the replay starts at ``start_ms``."""
        return move_to(self.recorded, start_ms, self.max_quiet_seconds)
