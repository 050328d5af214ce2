"""The store keeps what REST reads: the closed candles of the last hour and the latest trade of
every active symbol, and each symbol's gap counters for /health. A revised candle replaces the
one with the same open time; each symbol's newest candle and trade are published to ``Latest``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from candlecast.actors.base import Actor
from candlecast.errors import NoDataYet, NotSubscribed
from candlecast.http import encoding
from candlecast.market_data import Candle, GapEvent, TradesArrived
from candlecast.messages.store import (
    Barrier,
    GapCounts,
    GetCandles,
    GetGapStats,
    GetHistoryStats,
    GetLatestCandle,
    GetTick,
    HistoryStats,
)
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.store.latest import Latest


class StoreActor(Actor):
    def __init__(self, history_seconds: int, latest: Latest) -> None:
        super().__init__(actor="store")
        self._history_seconds = history_seconds
        self._latest = latest
        self._candles: dict[str, deque[Candle]] = {}
        self._gaps: dict[str, dict[str, int]] = {}

    def on_stop(self) -> None:
        self._latest.clear()

    def handle(self, message: Any) -> Any:  # noqa: PLR0911, PLR0912 (one case per message type)
        match message:
            case Candle(symbol=symbol):
                history = self._candles.get(symbol)
                if history is not None:
                    self._keep(history, message)
                    if history[-1] is message:
                        self._latest.publish_candle(symbol, encoding.candle_json(message))
            case GapEvent(symbol=symbol, kind=kind):
                counters = self._gaps.setdefault(symbol, {"gap": 0, "recovered": 0, "unrecoverable": 0})
                counters[kind] += 1
            case GetGapStats():
                return {
                    symbol: GapCounts(
                        opened=c["gap"],
                        recovered=c["recovered"],
                        unrecoverable=c["unrecoverable"],
                        open=c["gap"] - c["recovered"] - c["unrecoverable"],
                    )
                    for symbol, c in self._gaps.items()
                }
            case GetHistoryStats():
                return HistoryStats(
                    symbols=len(self._candles),
                    candles=sum(len(history) for history in self._candles.values()),
                )
            case TradesArrived(trades=trades):
                self._latest.publish_trades(trades)
            case SymbolActivated(symbol=symbol):
                self._candles.setdefault(symbol, deque(maxlen=self._history_seconds))
                self._latest.add(symbol)
            case SymbolDeactivated(symbol=symbol):
                self._candles.pop(symbol, None)
                self._latest.remove(symbol)
            case GetLatestCandle(symbol=symbol):
                return self._latest_body(symbol)
            case Barrier():
                return None
            case GetCandles(symbol=symbol, limit=limit):
                history = self._history(symbol)
                return tuple(history)[-limit:] if limit else ()
            case GetTick(symbol=symbol):
                self._history(symbol)
                tick = self._latest.trade(symbol)
                if tick is None:
                    raise NoDataYet(f"no trade for {symbol} yet")
                return tick
        return None

    @staticmethod
    def _keep(history: deque[Candle], candle: Candle) -> None:
        if candle.revision == 0 or not history or candle.open_time > history[-1].open_time:
            history.append(candle)
            return
        for index in range(len(history) - 1, -1, -1):
            if history[index].open_time == candle.open_time:
                history[index] = candle
                return
            if history[index].open_time < candle.open_time:
                return

    def _latest_body(self, symbol: str) -> bytes:
        self._history(symbol)
        body = self._latest.candle(symbol)
        if body is None:
            raise NoDataYet(f"no closed candle for {symbol} yet")
        return body

    def _history(self, symbol: str) -> deque[Candle]:
        history = self._candles.get(symbol)
        if history is None:
            raise NotSubscribed(f"{symbol} is not subscribed")
        return history
