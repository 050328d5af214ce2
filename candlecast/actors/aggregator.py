"""One aggregator per symbol: folds trades into candles, publishes closed and revised ones to the
broadcaster and the store, and asks the backfill actor for the trade ids its gaps miss and for
the price before its first second, and the history reader for stored candles older than it
keeps. It never blocks, so the aggregators share a pool of threads (``runtime/actor_pool.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from candlecast.actors.base import tell_if_alive
from candlecast.candles.gaps import RECOVERED
from candlecast.candles.series import CandleSeries
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.market_data import GapEvent, Trade, TradeBatch
from candlecast.messages.backfill import BackfillFailed, PriceSeeded, RequestBackfill, RequestSeed, TradesRecovered
from candlecast.messages.clock import SecondElapsed
from candlecast.messages.history import CandlesRead, ReadCandles
from candlecast.messages.upstream import StreamInterrupted, StreamResumed, SubscriptionConfirmed, TradeRejected
from candlecast.runtime.actor_pool import ActorPool, PooledActor


class AggregatorActor(PooledActor):
    def __init__(
        self,
        pool: ActorPool,
        *,
        symbol: str,
        fill_empty: bool,
        window_s: int,
        memory_s: int,
        broadcaster: Any,
        store: Any,
        backfill: Any,
        history: Any,
        exchange_time: ExchangeTime,
    ) -> None:
        super().__init__(pool, actor="aggregator", symbol=symbol)
        self._series = CandleSeries(symbol, fill_empty, window_s, memory_s)
        self._broadcaster = broadcaster
        self._store = store
        self._backfill = backfill
        self._history = history
        self._exchange_time = exchange_time
        self._confirmed_at_ms: int | None = None  # a confirmation waiting for the exchange's clock

    def handle(self, message: Any) -> None:  # noqa: PLR0912 (one case per message type)
        out: list[Any] = []
        waiting = self._confirmed_at_ms
        if waiting is not None and self._exchange_time.known.is_set():
            self._start(waiting, out)
        match message:
            case TradeBatch(trades=trades):
                self._series.add_batch(trades, out)
                self._series.settle(out)
            case SecondElapsed(second=second):
                self._series.elapse(second, out)
            case TradeRejected(trade_id=trade_id, reason=reason):
                self._series.reject(trade_id, f"trade rejected: {reason}", out)
            case TradesRecovered():
                self._series.recover(message, out)
            case BackfillFailed(first_id=first_id, reason=reason):
                self._series.abandon(first_id, reason, out)
            case StreamInterrupted(silent_since_ms=silent_since_ms):
                self._series.interrupt(out, silent_since_ms)
            case StreamResumed():
                self._series.resume(out)
            case CandlesRead(error=error):
                if error:
                    self.log.warning("stored candles unavailable: late trades for them are dropped", error=error)
                self._series.load(message, out)
            case SubscriptionConfirmed(confirmed_at_ms=confirmed_at_ms):
                if not self._series.started and self._confirmed_at_ms is None:  # reconnects confirm it again
                    self._confirmed_at_ms = confirmed_at_ms
                    if self._exchange_time.known.is_set():
                        self._start(confirmed_at_ms, out)
            case PriceSeeded(trade=trade, failure=failure):
                self._seeded(trade, failure, out)
        self._emit(out)

    def _start(self, confirmed_at_ms: int, out: list[Any]) -> None:
        """The exchange second the confirmation fell in is reckoned on the exchange's clock once
        it is known: on a wrong clock the first second could be one that misses trades."""
        confirmed_ms = confirmed_at_ms + self._exchange_time.offset_ms
        self._confirmed_at_ms = None
        first_second = self._series.start(confirmed_ms, out)
        self.log.info("subscription confirmed", confirmed_ms=confirmed_ms, first_second=first_second)

    def _seeded(self, trade: Trade | None, failure: str, out: list[Any]) -> None:
        outcome = self._series.seed(trade, out)
        if outcome in ("failed", "too late"):
            self.log.warning(
                "no price seed; the seconds before the first trade are not published", outcome=outcome, error=failure
            )
        elif outcome != "not asked for":
            self.log.info("price seed", outcome=outcome, trade_id=None if trade is None else trade.trade_id)

    def _emit(self, out: list[Any]) -> None:
        """Receivers stopped already only while the system stops, if a backlog outlasted the
        registry's wait for us."""
        for item in out:
            if isinstance(item, RequestBackfill | RequestSeed):
                tell_if_alive(self._backfill, msgspec.structs.replace(item, reply_to=self.actor_ref))
                continue
            if isinstance(item, ReadCandles):
                tell_if_alive(self._history, msgspec.structs.replace(item, reply_to=self.actor_ref))
                continue
            if isinstance(item, GapEvent):
                level = self.log.info if item.kind == RECOVERED else self.log.warning
                level(
                    "trade id gap",
                    kind=item.kind,
                    first=item.first_trade_id,
                    last=item.last_trade_id,
                    detail=item.detail,
                )
            tell_if_alive(self._broadcaster, item)
            tell_if_alive(self._store, item)

    def on_stop(self) -> None:
        series = self._series
        self.log.info(
            "aggregator stopped",
            duplicates=series.duplicates,
            late_applied=series.late_applied,
            beyond_window=series.beyond_window,
            too_far_ahead=series.too_far_ahead,
            unpriced_seconds=series.unpriced_seconds,
            **series.gaps.stats(),
        )
