"""One aggregator per symbol: folds trades into the open candle and publishes closed ones."""

from __future__ import annotations

from typing import Any

from candlecast.actors.base import Actor
from candlecast.candles import CandleSeries
from candlecast.messages import Candle, SecondElapsed, TradeBatch


class AggregatorActor(Actor):
    def __init__(self, symbol: str, fill_empty: bool, broadcaster: Any, store: Any) -> None:
        super().__init__(actor="aggregator", symbol=symbol)
        self._series = CandleSeries(symbol, fill_empty)
        self._broadcaster = broadcaster
        self._store = store

    def handle(self, message: Any) -> None:
        closed: list[Candle] = []
        match message:
            case TradeBatch(trades=trades):
                for trade in trades:
                    self._series.add(trade, closed)
                self._publish(closed)
                self._broadcaster.tell(message)
                self._store.tell(message)
            case SecondElapsed(second=second):
                self._series.elapse(second, closed)
                self._publish(closed)

    def _publish(self, candles: list[Candle]) -> None:
        for candle in candles:
            self._broadcaster.tell(candle)
            self._store.tell(candle)

    def on_stop(self) -> None:
        if self._series.late_trades:
            self.log.info("aggregator stopped", late_trades=self._series.late_trades)
