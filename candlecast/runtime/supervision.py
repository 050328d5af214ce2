"""An actor's record of the threads it owns, for /health, and its rule for restarting one.

A thread whose loop ended unexpectedly is replaced by a new one, up to ``max_restarts``
within ``window_s``; past that its component is ``failed`` and stays down: a fault that
recurs at once would otherwise restart forever, hiding that something needs a person.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Final, TypeVar

import msgspec
import structlog

from candlecast.messages.supervision import ComponentHealth, ThreadEnded
from candlecast.runtime.threads import StoppableThread

RUNNING: Final = "running"
FAILED: Final = "failed"
JOIN_S = 1.0

T = TypeVar("T", bound=StoppableThread)


class Supervisor:
    def __init__(
        self, max_restarts: int = 5, window_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_restarts = max_restarts
        self._window_s = window_s
        self._monotonic = monotonic
        self._components: dict[str, ComponentHealth] = {}
        self._recent: dict[str, collections.deque[float]] = {}
        self._log = structlog.get_logger(__name__)

    def start(self, thread: T) -> T:
        """Start ``thread`` as a running component named after it."""
        thread.start()
        current = self._components.get(thread.name)
        self._components[thread.name] = (
            ComponentHealth(RUNNING) if current is None else msgspec.structs.replace(current, state=RUNNING)
        )
        return thread

    def restart(self, ended: ThreadEnded, current: T, make: Callable[[], T]) -> T:
        """The thread to keep after ``ended``: a new one from ``make``, started, if ``ended`` is
        ``current``'s and restarts are left; else ``current`` (then marked failed if it was its)."""
        if ended.thread != current.name:
            return current
        current.join(JOIN_S)  # it told us as its last act
        if current.is_alive():
            return current
        if not self.may_restart(ended):
            return current
        self._log.warning("restarting an owned thread", thread=ended.thread, cause=ended.cause)
        return self.start(make())

    def may_restart(self, ended: ThreadEnded) -> bool:
        """Count ``ended``; False (and the component failed) once it ended too often."""
        now = self._monotonic()
        recent = self._recent.setdefault(ended.thread, collections.deque())
        while recent and now - recent[0] > self._window_s:
            recent.popleft()
        recent.append(now)
        current = self._components.get(ended.thread, ComponentHealth(RUNNING))
        restarts = current.restarts + 1
        if len(recent) > self._max_restarts:
            self._log.error("owned thread keeps ending; left down", thread=ended.thread, cause=ended.cause)
            self._components[ended.thread] = ComponentHealth(FAILED, current.restarts, ended.cause)
            return False
        self._components[ended.thread] = ComponentHealth(RUNNING, restarts, ended.cause)
        return True

    def failed(self, name: str, cause: str) -> None:
        """Mark ``name`` down for good: its owner cannot replace it."""
        current = self._components.get(name, ComponentHealth(RUNNING))
        self._components[name] = ComponentHealth(FAILED, current.restarts, cause)

    def health(self) -> dict[str, ComponentHealth]:
        return dict(self._components)
