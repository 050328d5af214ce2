"""A group's candles wait a little for the rest of their second, so that a client gets the
candles of one second in one write rather than one write each.

A client costs the server its writes (a system call and the kernel's TCP work each), hardly
its bytes: ten symbols whose candles close at ten moments of the same second were ten writes
per client and second. The candles of a group of clients wait while a candle of the same second
is still to come for it, at most ``linger_s``. The last of a second's candles usually close at the
grace deadline, and those set the latency's tail: they complete the second (``complete``) or
arrive with the clock's word that the second is closed (``closed``), and go at once with what
waited for them. Anything that is not a candle (trades, gap events) takes the waiting candles
with it, so a group's stream keeps its order.

Owned by the broadcaster, which decides what each group is sent and when.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Hashable, Sequence

from candlecast.actors.consumer import Outbound

NOT_A_CANDLE = None
# (frame, its candle's second or NOT_A_CANDLE)
Fresh = Sequence[tuple[Outbound, int | None]]


@dataclasses.dataclass(slots=True)
class _Waiting:
    since: float
    frames: list[Outbound]
    second: int  # the newest candle's second among them


class CandleLinger:
    def __init__(self, linger_s: float) -> None:
        self._linger_s = linger_s
        self._waiting: dict[Hashable, _Waiting] = {}
        self._closed = -1  # the clock's newest closed second

    def close(self, second: int) -> None:
        """Every candle of ``second`` and before has been closed (the clock's grace deadline)."""
        self._closed = max(self._closed, second)

    def groups(self) -> list[Hashable]:
        """The groups with candles waiting."""
        return list(self._waiting)

    def take(self, group: Hashable, fresh: Fresh, now: float, complete: Callable[[int], bool]) -> tuple[Outbound, ...]:
        """What ``group`` is to be sent now: what waited and ``fresh``, in order; nothing while it
        all waits. ``complete(second)``: whether every candle of that second has come for it."""
        waiting = self._waiting.pop(group, None)
        if waiting is None:
            if not fresh:
                return ()
            waiting = _Waiting(now, [], -1)
        waiting.frames.extend(frame for frame, _ in fresh)
        seconds = [second for _, second in fresh]
        if NOT_A_CANDLE in seconds:
            return tuple(waiting.frames)
        waiting.second = max([waiting.second, *seconds])  # type: ignore[list-item]
        expired = now - waiting.since >= self._linger_s or waiting.second <= self._closed
        # Only a fresh candle can complete the second: with none, nothing changed since the last look.
        if expired or (seconds and complete(waiting.second)):
            return tuple(waiting.frames)
        self._waiting[group] = waiting
        return ()

    def release(self, group: Hashable) -> tuple[Outbound, ...]:
        """Whatever the group has waiting, now (its members are about to change)."""
        waiting = self._waiting.pop(group, None)
        return tuple(waiting.frames) if waiting is not None else ()
