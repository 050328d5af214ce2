"""The thread that paces the market: it wakes when the next scheduled trade is due by the
exchange clock and tells the hub every trade that has become due. It owns the schedules
(nobody else touches them) and only ever tells, so the hub's mailbox never waits on time.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import pykka

from candlecast.sim.messages import TradesDue
from candlecast.sim.schedule import Schedule

# Upper bound of one sleep, so a stop or a clock jump is noticed promptly.
MAX_SLEEP_S = 0.25


class Pacer(threading.Thread):
    def __init__(self, schedules: Sequence[Schedule], hub: Any, clock: Callable[[], int]) -> None:
        super().__init__(name="sim-pacer", daemon=False)
        self._schedules = tuple(schedules)
        self._hub = hub
        self._clock = clock
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self._stopped.is_set():
            now = self._clock()
            due = sorted((t for s in self._schedules for t in s.take_due(now)), key=lambda t: t.time)
            if due:
                try:
                    self._hub.tell(TradesDue(trades=tuple(due)))
                except pykka.ActorDeadError:
                    return
            upcoming = [s.next_time for s in self._schedules if s.next_time is not None]
            wait_s = (min(upcoming) - self._clock()) / 1000 if upcoming else MAX_SLEEP_S
            self._stopped.wait(min(max(wait_s, 0.0), MAX_SLEEP_S))
