"""The clock's timer: which exchange second is due, and the thread that tells the clock actor
of each in turn.

``DueSeconds`` is the pure part (never a second twice, never one not yet closed, a burst of
overdue seconds spread out); ``SecondTimer`` wakes on exchange time and also watches the
machine's wall clock for a step, which has the exchange's clock read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from candlecast.actors.base import tell_if_alive
from candlecast.clock.closing import closed_through, closes_at_ms
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.messages.clock import SecondElapsed, WallClockStepped
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.threads import StoppableThread

TRUST_WAIT_S = 10.0  # at start, how long seconds wait for the exchange's clock to be known
MAX_WAIT_MS = 1000  # the timer looks at least this often, for a changed offset or a wall-clock step
CATCH_UP_WAIT_MS = 100  # between seconds told while catching up
WALL_STEP_MS = 1000  # wall minus monotonic moving more than this between two wakes is a step


class DueSeconds:
    """Which second the timer tells next, and how long it waits before it looks again.

    Never a second told before, never one exchange time has not passed (plus grace). Behind
    (a late wake, an offset stepped forward) it tells each second in turn, a moment apart, so
    the candles of several seconds do not go out in one burst; after an offset stepped back,
    it tells the next second once exchange time passes it.
    """

    def __init__(self, grace_ms: int) -> None:
        self._grace_ms = grace_ms
        self.last_told: int | None = None

    def next(self, exchange_now_ms: int) -> tuple[int | None, int]:
        """The second to tell now (None: none) and the milliseconds to wait before asking again."""
        due = closed_through(exchange_now_ms, self._grace_ms)
        told = None
        if self.last_told is None or due > self.last_told:
            told = self.last_told = due if self.last_told is None else self.last_told + 1
        if self.last_told < due:
            return told, CATCH_UP_WAIT_MS
        return told, min(MAX_WAIT_MS, closes_at_ms(self.last_told + 1, self._grace_ms) - exchange_now_ms)


class SecondTimer(StoppableThread):
    """Wakes at each exchange second boundary plus grace and tells the clock actor; at every
    wake it also compares the wall clock with the monotonic one and tells of a step."""

    def __init__(
        self,
        *,
        clock: Any,
        grace_ms: int,
        exchange_time: ExchangeTime,
        on_ended: Callable[[ThreadEnded], object] | None = None,
        trusted: threading.Event | None = None,
    ) -> None:
        """``clock``: the clock actor told. ``trusted``: set once the exchange's clock is known
        (a reading used, or the trades agreeing with the clock in use); the first second is told
        only then, or after ``TRUST_WAIT_S`` without it: a second told on a wrong clock cannot
        be taken back."""
        super().__init__("clock-timer", on_ended)
        self._clock = clock
        self._grace_ms = grace_ms
        self._exchange_time = exchange_time
        self._trusted = trusted

    def loop(self) -> None:
        if self._trusted is not None:
            deadline = time.monotonic() + TRUST_WAIT_S
            while not self._trusted.wait(0.05):
                if self.stopped.is_set() or time.monotonic() > deadline:
                    break
        seconds = DueSeconds(self._grace_ms)
        wall_offset = self._exchange_time.wall_offset_ms()
        while not self.stopped.is_set():
            second, wait_ms = seconds.next(self._exchange_time.now_ms())
            told = second is None or tell_if_alive(self._clock, SecondElapsed(second=second))
            now_wall_offset = self._exchange_time.wall_offset_ms()
            if told and abs(now_wall_offset - wall_offset) > WALL_STEP_MS:
                told = tell_if_alive(self._clock, WallClockStepped(step_ms=now_wall_offset - wall_offset))
            if not told:
                self.owner_gone()
                return
            wall_offset = now_wall_offset
            self.stopped.wait(wait_ms / 1000)
