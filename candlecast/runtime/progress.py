"""Progress of a long job (catch-up, retention, an export): done of total, rate and time left,
logged every few seconds and kept as an immutable report /health shows."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import structlog

LOG_EVERY_S = 5.0


class ProgressReport(msgspec.Struct, frozen=True):
    """One job's figures: ``total`` and ``eta_s`` are None while the total is unknown."""

    job: str
    done: int
    total: int | None
    rate_per_s: float
    eta_s: float | None
    running: bool


class Progress:
    """Counts one job's work, in the one thread doing it; ``report`` is safe to read from any."""

    def __init__(
        self,
        job: str,
        total: int | None = None,
        *,
        log_every_s: float = LOG_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._job = job
        self._total = total
        self._log_every_s = log_every_s
        self._monotonic = monotonic
        self._started = self._last_log = monotonic()
        self._done = 0
        self._log = structlog.get_logger(__name__).bind(job=job)
        self.report = ProgressReport(job=job, done=0, total=total, rate_per_s=0.0, eta_s=None, running=True)

    def advance(self, count: int) -> None:
        """``count`` more units done; logs when the last line is ``log_every_s`` old."""
        self._done += count
        now = self._monotonic()
        self.report = self._report(now, running=True)
        if now - self._last_log >= self._log_every_s:
            self._last_log = now
            self._log.info("progress", **msgspec.structs.asdict(self.report))

    def finish(self) -> None:
        """The job ended; logged only if it did anything, as a job finding nothing to do is routine."""
        self.report = self._report(self._monotonic(), running=False)
        if self._done:
            self._log.info("finished", **msgspec.structs.asdict(self.report))

    def _report(self, now: float, *, running: bool) -> ProgressReport:
        elapsed = now - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta = None
        if self._total is not None and rate > 0:
            eta = round(max(0, self._total - self._done) / rate, 1)
        return ProgressReport(
            job=self._job, done=self._done, total=self._total, rate_per_s=round(rate, 1), eta_s=eta, running=running
        )
