"""The backfill actor repairs gaps: aggregators tell it which trade ids they miss, and a
worker thread of its own fetches them over REST, one request at a time (one queue keeps the
whole process inside one weight budget), telling each page back to the aggregator. The same
queue fetches a newly subscribed symbol's newest trade, the price before its first second.

The worker reports its counters to the actor after every request, so /health reads them from
the actor without sharing anything with the thread.
"""

from __future__ import annotations

import queue
from typing import Any

import structlog

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.messages.backfill import (
    BackfillFailed,
    BackfillSource,
    BackfillStats,
    GetBackfillStats,
    PriceSeeded,
    RequestBackfill,
    RequestSeed,
)
from candlecast.messages.base import Message
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.supervision import Supervisor
from candlecast.runtime.threads import StoppableThread
from candlecast.upstream.rest_client import RequestRejected, UpstreamUnavailable
from candlecast.upstream.trade_fetch import (
    Fetcher,
    Stopped,
    WeightBudget,
    aggregate_pages,
    historical_pages,
    newest_trade,
)

Job = RequestBackfill | RequestSeed


class BackfillProgress(Message, frozen=True):
    """The worker's counters, told to its actor after each request."""

    served: int
    pages: int
    trades: int
    failed: int
    rate_limited: int
    rest_requests: int
    weight_used_1m: int
    source: BackfillSource


class BackfillWorker(StoppableThread):
    """Serves ``jobs``; a worker that replaces one that ended takes over its queue and counters."""

    def __init__(
        self,
        *,
        rest_url: str,
        weight_budget: int,
        owner: Any,
        jobs: queue.SimpleQueue[Job | None],
        progress: BackfillProgress,
    ) -> None:
        super().__init__("backfill", on_ended=lambda ended: tell_if_alive(owner, ended))
        self.jobs = jobs
        self._owner = owner
        self._fetcher = Fetcher(rest_url, WeightBudget(weight_budget), self.stopped.wait)
        self._source: BackfillSource = progress.source
        self._served, self._pages, self._trades, self._failed = (
            progress.served,
            progress.pages,
            progress.trades,
            progress.failed,
        )
        self._log = structlog.get_logger(__name__)

    def stop(self) -> None:
        self.stopped.set()
        self.jobs.put(None)
        super().stop()

    def loop(self) -> None:
        while (job := self.jobs.get()) is not None and not self.stopped.is_set():
            try:
                if isinstance(job, RequestSeed):
                    self._seed(job)
                else:
                    self._backfill(job)
            except Stopped:
                return
            self._report()

    def _backfill(self, job: RequestBackfill) -> None:
        try:
            self._serve(job)
        except Stopped:
            raise
        except Exception as exc:
            # Whatever went wrong, the gap is given up on, not left waiting for ever.
            self._failed += 1
            if isinstance(exc, UpstreamUnavailable):
                self._log.warning("backfill failed", symbol=job.symbol, first_id=job.first_id, error=str(exc))
            else:
                self._log.exception("backfill failed", symbol=job.symbol, first_id=job.first_id)
            self._reply(job, BackfillFailed(job.symbol, job.first_id, str(exc)[:200]))
        self._served += 1

    def _seed(self, job: RequestSeed) -> None:
        """The aggregator logs a seed that failed; only a fault of ours is logged here."""
        try:
            trade = newest_trade(self._fetcher, job.symbol)
            answer = PriceSeeded(job.symbol, trade, "" if trade is not None else "the symbol has no trades")
        except Stopped:
            raise
        except Exception as exc:
            if not isinstance(exc, UpstreamUnavailable):
                self._log.exception("fetching the newest trade failed", symbol=job.symbol)
            answer = PriceSeeded(job.symbol, None, str(exc)[:200])
        self._reply(job, answer)

    def _serve(self, job: RequestBackfill) -> None:
        if self._source == "historicalTrades":
            try:
                self._deliver(job, historical_pages(self._fetcher, job))
                return
            except RequestRejected as exc:
                self._log.warning("historicalTrades refused; backfilling from aggTrades", error=str(exc))
                self._source = "aggTrades"
        self._deliver(job, aggregate_pages(self._fetcher, job))

    def _deliver(self, job: RequestBackfill, pages: Any) -> None:
        for page in pages:
            self._pages += 1
            self._trades += sum(t.count for t in page.trades)
            self._reply(job, page)

    @staticmethod
    def _reply(job: Job, message: Message) -> None:
        # The series leaves ``reply_to`` to its aggregator, which names itself before telling.
        if job.reply_to is not None:
            tell_if_alive(job.reply_to, message)

    def _report(self) -> None:
        tell_if_alive(
            self._owner,
            BackfillProgress(
                served=self._served,
                pages=self._pages,
                trades=self._trades,
                failed=self._failed,
                rate_limited=self._fetcher.rate_limited,
                rest_requests=self._fetcher.requests,
                weight_used_1m=self._fetcher.budget.used,
                source=self._source,
            ),
        )


class BackfillActor(Actor):
    supervisor: Supervisor

    def __init__(self, rest_url: str, weight_budget: int) -> None:
        super().__init__(actor="backfill")
        self._rest_url = rest_url
        self._weight_budget = weight_budget
        self.supervisor = Supervisor()
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._requested = 0
        self._progress = BackfillProgress(0, 0, 0, 0, 0, 0, 0, "historicalTrades")
        self._worker = self._new_worker()

    def _new_worker(self) -> BackfillWorker:
        return BackfillWorker(
            rest_url=self._rest_url,
            weight_budget=self._weight_budget,
            owner=self.actor_ref,
            jobs=self._jobs,
            progress=self._progress,
        )

    def on_start(self) -> None:
        self.supervisor.start(self._worker)

    def on_stop(self) -> None:
        self._worker.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case RequestBackfill():
                self._requested += 1
                self._jobs.put(message)
            case RequestSeed():
                self._jobs.put(message)
            case BackfillProgress():
                self._progress = message
            case ThreadEnded():
                self._worker = self.supervisor.restart(message, self._worker, self._new_worker)
            case GetBackfillStats():
                progress = self._progress
                return BackfillStats(
                    requested=self._requested,
                    pending=self._requested - progress.served,
                    pages=progress.pages,
                    trades_recovered=progress.trades,
                    failed=progress.failed,
                    rate_limited=progress.rate_limited,
                    rest_requests=progress.rest_requests,
                    rest_weight_used_1m=progress.weight_used_1m,
                    source=progress.source,
                )
        return None
