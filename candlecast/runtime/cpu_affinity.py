"""Keeping the daemon's threads on chosen CPUs (``--cpus``).

Work passes between threads all the time: a REST request from waitress's poll thread to a worker and
back (and to an actor and back for most routes); a trade from the connection's reader to an
aggregator, to the broadcaster and a writer; and every thread hands the interpreter lock to the
next. Each handoff wakes a thread, and on a virtual machine waking one that sleeps on another core
costs far more CPU than the Python around it (see README, Performance). Linux only: there a thread
starts with the CPU set of the thread that starts it, so pinning the starting thread for a moment
pins everything it starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

MAX_CPUS = 8192  # Linux's largest build; a wider range in a list is a mistake, not a machine


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may run on; empty where the platform cannot pin threads."""
    if not hasattr(os, "sched_getaffinity"):
        return frozenset()
    return frozenset(os.sched_getaffinity(0))


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """``taskset``'s list notation: "1", "0,2", "0-3", in order; empty for "" or "any". ValueError on anything else."""
    if text.strip().lower() in ("", "any"):
        return ()
    cpus: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.strip().partition("-")
        low, high = int(first), int(last if dash else first)
        if not 0 <= low <= high < MAX_CPUS:
            raise ValueError(f"not a CPU range: {item.strip()!r}")
        cpus.update(range(low, high + 1))
    return tuple(sorted(cpus))


@contextlib.contextmanager
def threads_started_on(cpus: Iterable[int]) -> Iterator[None]:
    """Threads started inside run on ``cpus`` only; with none given nothing changes."""
    chosen = set(cpus)
    if not chosen:
        yield
        return
    before = os.sched_getaffinity(0)  # pid 0: on Linux, the calling thread alone
    os.sched_setaffinity(0, chosen)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
