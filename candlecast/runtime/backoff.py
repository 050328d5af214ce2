"""Capped exponential backoff with full jitter, so many reconnecting clients spread out
instead of retrying in lockstep."""

from __future__ import annotations

import random

_RNG = random.Random()


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random = _RNG) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): uniform in [0, min(cap, base*2^n)]."""
    return rng.uniform(0, min(cap_s, base_s * (2 ** min(attempt, 30))))
