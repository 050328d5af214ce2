"""A thread that tells its actor a message at a fixed interval, so an actor can act on time
(flush what it held back) without its mailbox ever sleeping."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pykka


class Ticker(threading.Thread):
    def __init__(self, name: str, interval_s: float, target: Any, message: Callable[[], Any]) -> None:
        super().__init__(name=name, daemon=False)
        self._interval_s = interval_s
        self._target = target
        self._message = message
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._target.tell(self._message())
            except pykka.ActorDeadError:
                return
