"""The threads actors own: not daemons, stopped and joined by their owner in ``on_stop``;
``loop`` waits on ``stopped`` so a stop is prompt.

No owned thread dies silently: a loop that ends unasked is logged with its cause and reported
to ``on_ended`` as a ``ThreadEnded``, so the owner restarts it or reports its component down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from candlecast.messages.supervision import ThreadEnded

_log = structlog.get_logger(__name__)

CAUSE_CHARS = 200


class StoppableThread(threading.Thread):
    def __init__(self, name: str, on_ended: Callable[[ThreadEnded], object] | None = None) -> None:
        super().__init__(name=name, daemon=False)
        self.stopped = threading.Event()
        self._on_ended = on_ended

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    def loop(self) -> None:
        """The thread's work; returns (or raises) only when stopped, or when it cannot go on."""
        raise NotImplementedError

    def owner_gone(self) -> None:
        """End as if stopped: the actor told is stopping, and stops this thread next."""
        self.stopped.set()

    def run(self) -> None:
        try:
            self.loop()
        except Exception as exc:
            if self.stopped.is_set():
                return
            cause = f"{type(exc).__name__}: {exc}"[:CAUSE_CHARS]
            _log.exception("owned thread ended by an error", thread=self.name)
        else:
            if self.stopped.is_set():
                return
            cause = "its loop returned"
            _log.error("owned thread ended", thread=self.name, cause=cause)
        if self._on_ended is not None:
            self._on_ended(ThreadEnded(thread=self.name, cause=cause))


class ServingThread(StoppableThread):
    """A thread whose loop is a server's own (``serve``: waitress's, socketserver's). Its owner
    sets ``stopped`` before it ends the server's loop, so only an unexpected end is reported."""

    def __init__(self, name: str, serve: Callable[[], None], on_ended: Callable[[ThreadEnded], object] | None) -> None:
        super().__init__(name, on_ended)
        self._serve = serve

    def loop(self) -> None:
        self._serve()
