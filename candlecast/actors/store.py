"""The store hands every closed candle and revision to the history writer, which keeps them on
disk, and publishes each symbol's newest candle and trade to ``Latest`` for REST. It also keeps
each symbol's gap counters for /health and the active symbol set the writer saves, so a
restart subscribes the same symbols.
"""

from __future__ import annotations

from typing import Any

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.errors import NoDataYet, NotSubscribed
from candlecast.history.store import CandleStore
from candlecast.history.writer import HistoryWriter, WriteQueue
from candlecast.http import encoding
from candlecast.market_data import Candle, GapEvent, TradesArrived
from candlecast.messages.store import (
    Barrier,
    GapCounts,
    GetGapStats,
    GetHistoryStats,
    GetLatestCandle,
    GetTick,
)
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.runtime.supervision import Supervisor
from candlecast.store.latest import Latest


class StoreActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        *,
        latest: Latest,
        history: CandleStore,
        engine: str,
        queue_limit: int,
        flush_interval_s: float,
        retention_ms: int,
    ) -> None:
        super().__init__(actor="store")
        self._latest = latest
        self._history = history
        self._engine = engine
        self._flush_interval_s = flush_interval_s
        self._retention_ms = retention_ms
        self._pending = WriteQueue(queue_limit)
        self._newest: dict[str, int] = {}  # open time of each active symbol's newest candle
        self._gaps: dict[str, dict[str, int]] = {}
        self.supervisor = Supervisor()
        self._writer = self._new_writer()

    def _new_writer(self) -> HistoryWriter:
        return HistoryWriter(
            self._history,
            self._pending,
            flush_interval_s=self._flush_interval_s,
            retention_ms=self._retention_ms,
            on_ended=lambda ended: tell_if_alive(self.actor_ref, ended),
        )

    def on_start(self) -> None:
        self.supervisor.start(self._writer)

    def on_stop(self) -> None:
        self._latest.clear()
        self._writer.stop()  # writes what is queued first

    def handle(self, message: Any) -> Any:  # noqa: PLR0912 (one case per message type)
        match message:
            case Candle(symbol=symbol, open_time=open_time):
                newest = self._newest.get(symbol)
                if newest is not None:
                    self._pending.offer(message)
                    if open_time >= newest:
                        self._newest[symbol] = open_time
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
                return self._pending.stats(self._engine)
            case TradesArrived(trades=trades):
                self._latest.publish_trades(trades)
            case SymbolActivated(symbol=symbol):
                self._newest.setdefault(symbol, -1)
                self._latest.add(symbol)
                self._pending.symbols = tuple(sorted(self._newest))
            case SymbolDeactivated(symbol=symbol):
                self._newest.pop(symbol, None)
                self._latest.remove(symbol)
                self._pending.symbols = tuple(sorted(self._newest))
            case GetLatestCandle(symbol=symbol):
                return self._latest_body(symbol)
            case Barrier():
                return None
            case GetTick(symbol=symbol):
                self._check_active(symbol)
                tick = self._latest.trade(symbol)
                if tick is None:
                    raise NoDataYet(f"no trade for {symbol} yet")
                return tick
            case ThreadEnded():
                self._writer = self.supervisor.restart(message, self._writer, self._new_writer)
        return None

    def _latest_body(self, symbol: str) -> bytes:
        self._check_active(symbol)
        body = self._latest.candle(symbol)
        if body is None:
            raise NoDataYet(f"no closed candle for {symbol} yet")
        return body

    def _check_active(self, symbol: str) -> None:
        if symbol not in self._newest:
            raise NotSubscribed(f"{symbol} is not subscribed")
