"""How often something happened lately, against rates in the ``limits`` library's notation
("100/minute;10/second"): a moving window per rate, kept by the one thread that counts."""

from __future__ import annotations

import collections

from limits import RateLimitItem, parse_many


def parse_rates(spec: str) -> tuple[RateLimitItem, ...]:
    """The rates of ``spec``; empty for an empty spec (no limit)."""
    return tuple(parse_many(spec)) if spec.strip() else ()


class RateWindow:
    """When the last ``limit.amount`` events came: one more within the limit's time of the
    oldest is one too many."""

    __slots__ = ("_times", "limit")

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self._times: collections.deque[float] = collections.deque(maxlen=limit.amount)

    def admit(self, now: float) -> bool:
        """Count an event at ``now`` (monotonic seconds); False if it is one too many."""
        if len(self._times) == self.limit.amount and now - self._times[0] < self.limit.get_expiry():
            return False
        self._times.append(now)
        return True
