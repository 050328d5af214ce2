"""The two kinds of message: told (``Message``) and asked (``Query``).

Messages are frozen, slotted structs so they can cross threads without copies or locks;
collections inside them are tuples or frozensets for the same reason. Each subclass says
``frozen=True`` again for the type checker, which does not inherit it.
"""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, frozen=True):
    """Base of every message; told, never answered."""


class Query(msgspec.Struct, frozen=True):
    """Base of every message that is asked; a failure goes back to the asker."""
