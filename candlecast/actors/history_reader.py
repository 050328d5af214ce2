"""Reads stored candles for the actors that keep only the newest seconds in memory (the
aggregators revising an older candle, the broadcaster replaying ``since``), on a thread of its
own: a slow disk delays these answers, never the live stream. Each answer goes back as one
immutable ``CandlesRead``."""

from __future__ import annotations

from typing import Any

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.history.store import CandleStore
from candlecast.market_data import Candle
from candlecast.messages.history import CandlesRead, ReadCandles


class HistoryReaderActor(Actor):
    def __init__(self, store: CandleStore) -> None:
        super().__init__(actor="history-reader")
        self._store = store
        self.reads = 0
        self.failed = 0

    def handle(self, message: Any) -> None:
        if isinstance(message, ReadCandles) and message.reply_to is not None:
            tell_if_alive(message.reply_to, self._read(message))

    def _read(self, read: ReadCandles) -> CandlesRead:
        """The ranges in order up to the limit; one candle more is asked for, to tell a
        range that holds more from one that holds exactly the limit."""
        self.reads += 1
        found: list[Candle] = []
        try:
            for asked in read.ranges:
                left = read.limit - len(found)
                candles = self._store.candles(asked.symbol, asked.start_ms, asked.end_ms, left + 1)
                if len(candles) > left:
                    found += candles[:left]
                    return CandlesRead(read.request, read.ranges, tuple(found), more=True)
                found += candles
        except Exception as exc:  # a failing disk or database: the asker carries on without
            self.failed += 1
            self.log.warning("reading stored candles failed", error=str(exc), ranges=len(read.ranges))
            return CandlesRead(read.request, read.ranges, (), error=f"{type(exc).__name__}: {exc}")
        return CandlesRead(read.request, read.ranges, tuple(found))

    def on_stop(self) -> None:
        self.log.info("history reader stopped", reads=self.reads, failed=self.failed)
