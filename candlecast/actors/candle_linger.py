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
        # Oldest first: a group keeps its place while it waits, and starts waiting now.
        self._waiting: dict[Hashable, _Waiting] = {}
        self._closed = -1  # the clock's newest closed second
        self._newly_closed = False

    def close(self, second: int) -> None:
        """Every candle of ``second`` and before has been closed (the clock's grace deadline)."""
        if second > self._closed:
            self._closed = second
            self._newly_closed = True

    def due(self, now: float) -> list[Hashable]:
        """The groups whose candles may go now with nothing new for them: those that waited the
        linger (the oldest, so a tick looks at no other), or every one once the clock closed a
        second."""
        if self._newly_closed:
            self._newly_closed = False
            return list(self._waiting)
        due = []
        for group, waiting in self._waiting.items():
            if now - waiting.since < self._linger_s:
                break
            due.append(group)
        return due

    def take(self, group: Hashable, fresh: Fresh, now: float, complete: Callable[[int], bool]) -> tuple[Outbound, ...]:
        """What ``group`` is to be sent now: what waited and ``fresh``, in order; nothing while it
        all waits. ``complete(second)``: whether every candle of that second has come for it."""
        waiting = self._waiting.get(group)
        if waiting is None:
            if not fresh:
                return ()
            waiting = _Waiting(now, [], -1)
        candles_only = True
        for frame, second in fresh:  # a loop: once per group and tick, with thousands of groups
            waiting.frames.append(frame)
            if second is NOT_A_CANDLE:
                candles_only = False
            elif second > waiting.second:
                waiting.second = second
        if candles_only:
            expired = now - waiting.since >= self._linger_s or waiting.second <= self._closed
            # Only a fresh candle can complete the second: with none, nothing changed since the last look.
            if not expired and not (fresh and complete(waiting.second)):
                self._waiting.setdefault(group, waiting)
                return ()
        self._waiting.pop(group, None)
        return tuple(waiting.frames)

    def release(self, group: Hashable) -> tuple[Outbound, ...]:
        """Whatever the group has waiting, now (its members are about to change)."""
        waiting = self._waiting.pop(group, None)
        return tuple(waiting.frames) if waiting is not None else ()
