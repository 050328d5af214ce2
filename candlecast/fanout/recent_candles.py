"""The recent closed candles of every symbol, newest revision of each second, for replay to
clients that subscribe (the latest one) or reconnect with ``since`` (every one they missed)."""

from __future__ import annotations

from candlecast.fanout.subscriptions import ALL_SYMBOLS, CANDLE, Pairs
from candlecast.market_data import Candle


class RecentCandles:
    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        self._by_symbol: dict[str, dict[int, Candle]] = {}

    def remember(self, candle: Candle) -> None:
        kept = self._by_symbol.setdefault(candle.symbol, {})
        kept[candle.open_time] = candle
        while len(kept) > self._seconds:
            del kept[next(iter(kept))]

    def replay_for(self, pairs: Pairs, since: int | None, most: int) -> tuple[Candle, ...] | None:
        """For a client subscribing to ``pairs``: the latest candle of each symbol on the candle
        channel (or every one from ``since`` on), by symbol; None when more than ``most``."""
        wanted = {symbol for symbol, channel in pairs if channel == CANDLE}
        symbols = self.symbols() if ALL_SYMBOLS in wanted else sorted(wanted)
        if self.count(symbols, since, most) > most:
            return None
        return tuple(candle for symbol in symbols for candle in self.replay(symbol, since))

    def forget(self, symbol: str) -> None:
        self._by_symbol.pop(symbol, None)

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
        """The latest candle of ``symbol``, or all from open time ``since`` on, oldest first."""
        kept = self._by_symbol.get(symbol)
        if not kept:
            return []
        if since is None:
            return [kept[next(reversed(kept))]]  # seconds arrive in order; revisions keep their place
        return [kept[t] for t in sorted(kept) if t >= since]
