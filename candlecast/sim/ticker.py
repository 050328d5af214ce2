"""The thread that tells the hub the time, so pings, pong deadlines and timed closes fall due
without the hub's mailbox ever sleeping."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

from candlecast.sim.messages import Tick

TICK_S = 0.05


class Ticker(threading.Thread):
    def __init__(self, hub: Any) -> None:
        super().__init__(name="sim-ticker", daemon=False)
        self._hub = hub
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self._stopped.wait(TICK_S):
            try:
                self._hub.tell(Tick(time.monotonic()))
            except pykka.ActorDeadError:
                return
