"""Reading the exchange's clock: one ``/api/v3/time`` request gives an offset to the monotonic
clock, and a schedule says when the next one is due.

The clock actor judges each reading (``exchange_time.refusal``) and asks for one sooner when it
has reason to doubt the clock in use; its sync poller waits on the schedule for its turn.
"""

from __future__ import annotations

import reprlib
import threading
import time
from collections.abc import Callable
from typing import Any

from candlecast.messages.clock import ClockOffsetMeasured
from candlecast.upstream.rest_client import UpstreamUnavailable, get_json

# serverTime must lie between 2001 and 2286: anything else is not epoch milliseconds.
SERVER_TIME_RANGE_MS = range(10**12, 10**13)


def server_time_ms(answer: Any) -> int:
    """The ``serverTime`` of an ``/api/v3/time`` answer; anything else raises
    ``UpstreamUnavailable``, a failure the poller retries like a missing network."""
    if not isinstance(answer, dict):
        raise UpstreamUnavailable(f"GET /api/v3/time: not an object: {reprlib.repr(answer)}")
    if "serverTime" not in answer:
        raise UpstreamUnavailable(f"GET /api/v3/time: no serverTime in {reprlib.repr(answer)}")
    server_time = answer["serverTime"]
    if type(server_time) is not int or server_time not in SERVER_TIME_RANGE_MS:
        raise UpstreamUnavailable(f"GET /api/v3/time: serverTime {reprlib.repr(server_time)} is not epoch ms")
    return server_time


def measure_offset(rest_url: str, monotonic_ms: Callable[[], int]) -> ClockOffsetMeasured:
    """Exchange time minus monotonic time, assuming the reply was made halfway through the request."""
    sent = monotonic_ms()
    server_time = server_time_ms(get_json(rest_url, "/api/v3/time"))
    received = monotonic_ms()
    return ClockOffsetMeasured(offset_ms=server_time - (sent + received) // 2, round_trip_ms=received - sent)


class SyncSchedule:
    """When the exchange's clock is next read: at once, then ``interval_s`` after each reading,
    or sooner when asked (a refused reading, a wall-clock step). Shared by the clock actor,
    which asks, and its sync poller, which waits for its turn."""

    def __init__(self, interval_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._next_at = monotonic()
        self._closed = False
        self._changed = threading.Condition()

    def wait_turn(self) -> bool:
        """Returns once a reading is due: True; or once closed: False."""
        with self._changed:
            while not self._closed:
                remaining = self._next_at - self._monotonic()
                if remaining <= 0:
                    return True
                self._changed.wait(remaining)
            return False

    def measured(self) -> None:
        with self._changed:
            self._next_at = self._monotonic() + self._interval_s

    def soon(self, delay_s: float) -> None:
        """The next reading at most ``delay_s`` from now."""
        with self._changed:
            self._next_at = min(self._next_at, self._monotonic() + delay_s)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
