"""What owners of threads hear from them and what /health asks of the owners."""

from __future__ import annotations

import msgspec

from candlecast.messages.base import Message, Query


class ThreadEnded(Message):
    """An owned thread's loop ended while nobody asked it to stop; told to its owner."""

    thread: str
    cause: str


class GetComponents(Query):
    """Every component an actor owns (its threads), as ``{name: ComponentHealth}``."""


class ComponentHealth(msgspec.Struct, frozen=True):
    """One component as /health shows it: ``running``, ``restarting`` or ``failed``."""

    state: str
    restarts: int = 0
    last_error: str = ""
