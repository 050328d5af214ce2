"""Binance's incoming-message limit on one stream connection: more than ``limit`` frames
(requests, pings and pongs alike) within any one second and the connection is dropped."""

from __future__ import annotations

from collections import deque


class FrameWindow:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._times: deque[float] = deque()
        self.exceeded = False

    def add(self, at: float) -> bool:
        """Count a frame received at ``at`` (seconds); True once the limit is exceeded."""
        self._times.append(at)
        while at - self._times[0] >= 1.0:
            self._times.popleft()
        self.exceeded = self.exceeded or len(self._times) > self._limit
        return self.exceeded
