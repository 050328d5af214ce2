"""Binance allows a limited number of connection attempts per IP (300 per 5 minutes); every
upstream reader of the process takes its turn from this one limiter before connecting.

The ``limits`` moving window with in-memory storage is thread-safe, so readers share it
without a lock of our own; a reader over the limit waits, and stopping it ends the wait.
"""

from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

KEY = "upstream-connect"
MAX_WAIT_STEP_S = 1.0


class ConnectAttempts:
    def __init__(self, spec: str) -> None:
        self._item = parse(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def wait_turn(self, stopped: threading.Event) -> float:
        """Block until an attempt is allowed (and take it); returns seconds waited, or -1 if stopped."""
        started = time.monotonic()
        while not self._limiter.hit(self._item, KEY):
            reset_at = self._limiter.get_window_stats(self._item, KEY).reset_time
            if stopped.wait(min(max(reset_at - time.time(), 0.05), MAX_WAIT_STEP_S)):
                return -1.0
        return time.monotonic() - started
