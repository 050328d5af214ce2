"""An actor standing in for a receiver: it keeps every message of the types it is told, and
answers any ask with what it kept so far."""

from __future__ import annotations

from typing import Any

import pykka


class Recorder(pykka.ThreadingActor):
    def __init__(self, kind: type | tuple[type, ...]) -> None:
        super().__init__()
        self._kind = kind
        self._kept: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, self._kind):
            self._kept.append(message)
            return None
        return list(self._kept)
