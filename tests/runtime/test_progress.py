"""A long job's progress: done of total, the rate so far and the time left, on an injected clock."""

from __future__ import annotations

from candlecast.runtime.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_and_time_left_follow_the_work_done() -> None:
    clock = Clock()
    progress = Progress("catch-up", total=1000, monotonic=clock)
    assert (progress.report.done, progress.report.running, progress.report.eta_s) == (0, True, None)
    clock.now += 2.0
    progress.advance(100)
    report = progress.report
    assert (report.done, report.total, report.rate_per_s, report.eta_s) == (100, 1000, 50.0, 18.0)
    clock.now += 2.0
    progress.advance(300)
    assert (progress.report.rate_per_s, progress.report.eta_s) == (100.0, 6.0)
    progress.finish()
    assert (progress.report.done, progress.report.running) == (400, False)


def test_an_unknown_total_has_no_time_left() -> None:
    clock = Clock()
    progress = Progress("retention", monotonic=clock)
    clock.now += 1.0
    progress.advance(5000)
    assert (progress.report.total, progress.report.eta_s, progress.report.rate_per_s) == (None, None, 5000.0)
    progress.finish()
    assert not progress.report.running
