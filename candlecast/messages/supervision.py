"""What owners of threads hear from them, and what /health asks of the owners."""

from __future__ import annotations

from typing import Literal

import msgspec

from candlecast.messages.base import Message, Query

ComponentState = Literal["running", "failed"]


class ThreadEnded(Message, frozen=True):
    """An owned thread's loop ended while nobody asked it to stop; told to its owner."""

    thread: str
    cause: str


class GetComponents(Query, frozen=True):
    """Every component an actor owns (its threads), as ``{name: ComponentHealth}``."""


class ComponentHealth(msgspec.Struct, frozen=True):
    """One component as /health shows it: ``failed`` once it has ended too often to restart."""

    state: ComponentState
    restarts: int = 0
    last_error: str = ""
