"""Waiting in tests by deadline, never by a fixed sleep: a condition polled until it holds."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.02) -> bool:
    """True once ``condition()`` is truthy; fails the test if it is not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {getattr(condition, '__name__', condition)}")
        time.sleep(interval_s)
    return True
