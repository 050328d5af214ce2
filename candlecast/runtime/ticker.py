"""A thread that tells its actor a message at a fixed interval, so an actor can act on time
(flush what it held back) without its mailbox ever sleeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from candlecast.actors.base import tell_if_alive
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.threads import StoppableThread


class Ticker(StoppableThread):
    def __init__(
        self,
        name: str,
        interval_s: float,
        target: Any,
        message: Callable[[], Any],
        *,
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        super().__init__(name, on_ended)
        self._interval_s = interval_s
        self._target = target
        self._message = message

    def loop(self) -> None:
        while not self.stopped.wait(self._interval_s):
            if not tell_if_alive(self._target, self._message()):
                self.owner_gone()
                return
