"""The threads actors own: not daemons (they end before the process does), stopped and
joined by their owner in ``on_stop``; ``run`` waits on ``stopped`` so a stop is prompt."""

from __future__ import annotations

import threading


class StoppableThread(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=False)
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join()
