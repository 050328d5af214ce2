"""The closed candles of the last ``seconds`` of every symbol, newest revision of each second,
for replay to clients that subscribe (the latest one) or reconnect with ``since`` (every one they
missed). Older candles are in the store: a ``since`` before what memory holds names the ranges
to read there (``stored_ranges``), and the replay merges what was read with what memory holds.
Revisions of older seconds are kept ``seconds`` too, until the store surely has them."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from candlecast.fanout.subscriptions import ALL_SYMBOLS, CANDLE, Pairs
from candlecast.market_data import Candle
from candlecast.messages.history import CandleRange

# The end of a stored range for a symbol with nothing in memory yet: every stored candle.
NEWEST_MS = 2**62


class RecentCandles:
    def __init__(self, seconds: int) -> None:
        self._span_ms = seconds * 1000
        self._by_symbol: dict[str, dict[int, Candle]] = {}  # ascending open times
        # Memory holds every candle of a symbol from this open time on.
        self._whole_from: dict[str, int] = {}
        # Revisions of seconds before that, with the symbol's newest open time when they came.
        self._older: dict[str, dict[int, tuple[int, Candle]]] = {}

    def remember(self, candle: Candle) -> None:
        symbol, open_time = candle.symbol, candle.open_time
        kept = self._by_symbol.setdefault(symbol, {})
        whole_from = self._whole_from.setdefault(symbol, open_time)
        newest = next(reversed(kept), open_time)
        if open_time < whole_from:
            revisions = self._older.setdefault(symbol, {})
            revisions.pop(open_time, None)
            revisions[open_time] = (newest, candle)
            return
        kept[open_time] = candle
        cutoff = max(newest, open_time) - self._span_ms
        if next(iter(kept)) <= cutoff:
            while next(iter(kept)) <= cutoff:
                del kept[next(iter(kept))]
            self._whole_from[symbol] = cutoff + 1000
        older = self._older.get(symbol)
        while older and next(iter(older.values()))[0] <= cutoff:
            del older[next(iter(older))]

    def stored_ranges(self, symbols: Iterable[str], since: int) -> tuple[CandleRange, ...]:
        """What to read from the store to replay ``symbols`` from ``since``: each symbol's
        candles from ``since`` up to those memory holds whole."""
        ranges = []
        for symbol in symbols:
            whole_from = self._whole_from.get(symbol)
            if whole_from is None:
                ranges.append(CandleRange(symbol, since, NEWEST_MS))
            elif since < whole_from:
                ranges.append(CandleRange(symbol, since, whole_from - 1))
        return tuple(ranges)

    def gaps_after(self, ranges: Iterable[CandleRange]) -> tuple[CandleRange, ...]:
        """What left memory for the store since ``ranges`` were asked for: the seconds between
        each range's end and what memory holds whole now."""
        gaps = []
        for asked in ranges:
            whole_from = self._whole_from.get(asked.symbol)
            if asked.end_ms != NEWEST_MS and whole_from is not None and whole_from > asked.end_ms + 1:
                gaps.append(CandleRange(asked.symbol, asked.end_ms + 1, whole_from - 1))
        return tuple(gaps)

    def replay_for(
        self, pairs: Pairs, since: int | None, most: int, stored: Collection[Candle] | None = None
    ) -> tuple[Candle, ...] | None:
        """For a client subscribing to ``pairs``: the latest candle of each symbol on the candle
        channel (or every one from ``since`` on, merged with ``stored``, what was read for it
        from the store), by symbol; None when more than ``most``."""
        symbols = self.wanted_symbols(pairs, {candle.symbol for candle in stored or ()})
        if since is None or stored is None:
            if self.count(symbols, since, most) > most:
                return None
            return tuple(candle for symbol in symbols for candle in self.replay(symbol, since))
        by_symbol: dict[str, dict[int, Candle]] = {}
        for candle in stored:
            by_symbol.setdefault(candle.symbol, {})[candle.open_time] = candle
        replayed: list[Candle] = []
        for symbol in symbols:
            merged = by_symbol.get(symbol, {})
            for candle in self._older_since(symbol, since) + self.replay(symbol, since):
                found = merged.get(candle.open_time)
                if found is None or found.revision < candle.revision:
                    merged[candle.open_time] = candle
            replayed += (merged[open_time] for open_time in sorted(merged))
            if len(replayed) > most:
                return None
        return tuple(replayed)

    def wanted_symbols(self, pairs: Pairs, also: Collection[str] = ()) -> list[str]:
        """The symbols of ``pairs`` on the candle channel; every one remembered, or in ``also``,
        for all symbols."""
        wanted = {symbol for symbol, channel in pairs if channel == CANDLE}
        return sorted(set(self._by_symbol) | set(also)) if ALL_SYMBOLS in wanted else sorted(wanted)

    def forget(self, symbol: str) -> None:
        self._by_symbol.pop(symbol, None)
        self._whole_from.pop(symbol, None)
        self._older.pop(symbol, None)

    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)

    def count(self, symbols: list[str], since: int | None, most: int) -> int:
        """How many candles ``replay`` would give for ``symbols``, counted newest first and only
        up to ``most + 1``: a replay too large is refused before anything of it is built."""
        counted = 0
        for symbol in symbols:
            kept = self._by_symbol.get(symbol)
            if not kept:
                continue
            if since is None:
                counted += 1
            else:
                for open_time in reversed(kept):
                    if open_time < since or counted > most:
                        break
                    counted += 1
            if counted > most:
                break
        return counted

    def replay(self, symbol: str, since: int | None) -> list[Candle]:
        """The latest candle of ``symbol``, or all from open time ``since`` on that memory
        holds whole, oldest first."""
        kept = self._by_symbol.get(symbol)
        if not kept:
            return []
        if since is None:
            return [kept[next(reversed(kept))]]  # seconds arrive in order; revisions keep their place
        return [kept[t] for t in kept if t >= since]

    def _older_since(self, symbol: str, since: int) -> list[Candle]:
        older = self._older.get(symbol, {})
        return [candle for open_time, (_, candle) in older.items() if open_time >= since]
