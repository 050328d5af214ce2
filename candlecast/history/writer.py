"""The history writer: a thread that takes closed candles from a bounded queue and writes them to
the candle store in batches, so a slow or failing disk delays history, never the live stream.

The store actor offers every candle without waiting; a full queue drops the candle and counts
it. Failed writes are retried with backoff, keeping the batch, and /health says so. The same
thread saves the active symbol set and deletes candles older than the retention, a little at
a time between writes.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from candlecast.history.store import CandleStore
from candlecast.market_data import Candle
from candlecast.messages.store import HistoryStats
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.backoff import full_jitter
from candlecast.runtime.progress import Progress, ProgressReport
from candlecast.runtime.threads import StoppableThread

BATCH_MOST = 20_000
RETRY_BASE_S = 0.25
RETRY_CAP_S = 10.0
RETENTION_EVERY_S = 60.0
RETENTION_BATCH = 5_000
ERROR_CHARS = 200

log = structlog.get_logger(__name__)
T = TypeVar("T")


class WriteQueue:
    """What waits to be written, and the writer's counters. It outlives any one writer thread, so
    a restarted writer carries on with it. Each field has one writing thread: ``offer`` and
    ``symbols`` the store actor's, the counters the writer's; /health only reads."""

    def __init__(self, limit: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._queue: queue.Queue[tuple[float, Candle]] = queue.Queue(maxsize=limit)
        self._monotonic = monotonic
        self.symbols: tuple[str, ...] | None = None  # the set to save, when it changed
        self.dropped = 0
        self.written = 0
        self.batches = 0
        self.refused = 0
        self.failing = ""
        self.last_write_at: float | None = None
        self.retention: ProgressReport | None = None
        self.cpu_s = 0.0  # CPU time of every writer thread so far

    def offer(self, candle: Candle) -> None:
        try:
            self._queue.put_nowait((self._monotonic(), candle))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("history queue full: candles dropped", dropped=self.dropped, limit=self.limit)

    def take(self, most: int) -> list[Candle]:
        """Up to ``most`` queued candles, without waiting."""
        taken: list[Candle] = []
        try:
            while len(taken) < most:
                taken.append(self._queue.get_nowait()[1])
        except queue.Empty:
            pass
        return taken

    def oldest_age_s(self) -> float:
        with self._queue.mutex:
            oldest = self._queue.queue[0][0] if self._queue.queue else None
        return 0.0 if oldest is None else self._monotonic() - oldest

    def stats(self, engine: str) -> HistoryStats:
        return HistoryStats(
            engine=engine,
            queued=self._queue.qsize(),
            queue_limit=self.limit,
            lag_ms=round(self.oldest_age_s() * 1000),
            written=self.written,
            batches=self.batches,
            refused=self.refused,
            dropped=self.dropped,
            failing=self.failing,
            last_write_age_s=None if self.last_write_at is None else round(self._monotonic() - self.last_write_at, 3),
            retention=self.retention,
            cpu_s=round(self.cpu_s, 3),
        )


class HistoryWriter(StoppableThread):
    def __init__(
        self,
        store: CandleStore,
        pending: WriteQueue,
        *,
        flush_interval_s: float,
        retention_ms: int,
        on_ended: Callable[[ThreadEnded], object] | None = None,
        wall_s: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="history-writer", on_ended=on_ended)
        self._store = store
        self._pending = pending
        self._flush_interval_s = flush_interval_s
        self._retention_ms = retention_ms
        self._wall_s = wall_s
        self._monotonic = monotonic
        self._saved_symbols: tuple[str, ...] | None = None
        self._next_retention = monotonic()

    def loop(self) -> None:
        cpu_before = self._pending.cpu_s
        while not self.stopped.wait(self._flush_interval_s):
            self._flush()
            self._delete_expired()
            self._pending.cpu_s = cpu_before + time.thread_time()
        self._flush()  # what was queued before the stop

    def _flush(self) -> None:
        symbols = self._pending.symbols
        if symbols is not None and symbols != self._saved_symbols:
            self._retrying(lambda: self._store.save_symbols(symbols))
            self._saved_symbols = symbols
        while batch := self._pending.take(BATCH_MOST):
            refused = self._retrying(lambda: self._store.write(batch))
            pending = self._pending
            pending.written += len(batch) - len(refused)
            pending.batches += 1
            pending.last_write_at = self._monotonic()
            if refused:
                pending.refused += len(refused)
                first = refused[0]
                log.error(
                    "candles the store cannot hold exactly were not kept",
                    count=len(refused),
                    symbol=first.symbol,
                    open_time=first.open_time,
                )
            if self.stopped.is_set() and pending.failing:
                return

    def _retrying(self, write: Callable[[], T]) -> T:
        """``write``'s result, retried with backoff while it raises (disk full, database down).
        After a stop it is tried once more at most, so a dead database cannot hold a shutdown."""
        attempt = 0
        while True:
            try:
                result = write()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
                if not self._pending.failing:
                    log.error("history writes failing; retrying", error=error)
                self._pending.failing = error
                if self.stopped.wait(full_jitter(attempt, RETRY_BASE_S, RETRY_CAP_S)) and attempt > 0:
                    raise
                attempt += 1
                continue
            if self._pending.failing:
                log.info("history writes recovered", error=self._pending.failing)
                self._pending.failing = ""
            return result

    def _delete_expired(self) -> None:
        """One pass over the candles older than the retention, in small transactions."""
        if self._retention_ms <= 0 or self._monotonic() < self._next_retention:
            return
        self._next_retention = self._monotonic() + RETENTION_EVERY_S
        cutoff = round(self._wall_s() * 1000) - self._retention_ms
        progress = Progress("retention", monotonic=self._monotonic)
        while not self.stopped.is_set():
            deleted = self._retrying(lambda: self._store.delete_before(cutoff, RETENTION_BATCH))
            progress.advance(deleted)
            self._pending.retention = progress.report
            if deleted < RETENTION_BATCH:
                break
            self._flush()  # new candles keep going in while a long deletion runs
        progress.finish()
        self._pending.retention = progress.report
