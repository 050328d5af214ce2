"""Keeping a group of threads on one CPU.

A REST request passes from waitress's poll thread to a worker, from the worker to the store
and back, and back to the poll thread. Each handoff wakes a thread; on a virtual machine
waking one that sleeps on the other core costs far more CPU than the Python around it
(see README, REST). Threads kept on one CPU hand over on that core. Linux only: there a
thread starts with the CPU set of the thread that started it, so pinning the starting thread
for a moment pins everything it starts.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may run on; empty where the platform cannot pin threads."""
    if not hasattr(os, "sched_getaffinity"):
        return frozenset()
    return frozenset(os.sched_getaffinity(0))


@contextlib.contextmanager
def threads_started_on(cpu: int | None) -> Iterator[None]:
    """Threads started inside run on ``cpu`` only; with None nothing changes."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)  # pid 0: on Linux, the calling thread alone
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
