"""The thread that paces the market: it wakes when the next scheduled trade is due by the
exchange clock and tells the hub every trade that has become due. It owns the schedules
(nobody else touches them) and only ever tells, so the hub's mailbox never waits on time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from candlecast.actors.base import tell_if_alive
from candlecast.runtime.threads import StoppableThread
from candlecast.sim.messages import TradesDue
from candlecast.sim.schedule import Schedule

# Upper bound of one sleep, so a stop or a clock jump is noticed promptly.
MAX_SLEEP_S = 0.25


class Pacer(StoppableThread):
    def __init__(self, schedules: Sequence[Schedule], hub: Any, now_ms: Callable[[], int]) -> None:
        super().__init__("sim-pacer")
        self._schedules = tuple(schedules)
        self._hub = hub
        self._now_ms = now_ms

    def loop(self) -> None:
        while not self.stopped.is_set():
            now = self._now_ms()
            due = sorted((t for s in self._schedules for t in s.take_due(now)), key=lambda t: t.time)
            if due and not tell_if_alive(self._hub, TradesDue(trades=tuple(due))):
                self.owner_gone()
                return
            upcoming = [s.next_time for s in self._schedules if s.next_time is not None]
            wait_s = (min(upcoming) - self._now_ms()) / 1000 if upcoming else MAX_SLEEP_S
            self.stopped.wait(min(max(wait_s, 0.0), MAX_SLEEP_S))
