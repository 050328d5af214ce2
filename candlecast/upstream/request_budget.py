"""How many live requests one upstream socket may still send: Binance closes a connection that
sends more than 5 messages a second (pongs included), so requests stay under a lower rate.

Pure: a sliding window over the send times the caller passes in. The window is a little
longer than the rate implies: the server counts arrival times, which jitter against ours.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW_MARGIN_S = 0.25


class RequestBudget:
    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        # A rate under 1/s becomes one message per 1/rate seconds.
        self._limit = max(1, math.floor(per_second))
        self._window_s = self._limit / per_second + WINDOW_MARGIN_S
        self._sent: deque[float] = deque()

    def reset(self) -> None:
        """A new socket starts with a full budget."""
        self._sent.clear()

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self._window_s:
            self._sent.popleft()

    def take(self, now: float) -> bool:
        self._expire(now)
        if len(self._sent) >= self._limit:
            return False
        self._sent.append(now)
        return True

    def wait_s(self, now: float) -> float:
        """Seconds until ``take`` can succeed."""
        self._expire(now)
        if len(self._sent) < self._limit:
            return 0.0
        return self._window_s - (now - self._sent[0])
