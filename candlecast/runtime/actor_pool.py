"""Actors that take turns on a few shared threads instead of owning one each.

A ``PooledActor`` is a pykka actor whose mailbox, when mail arrives while it is idle, puts it on
its pool's run queue; a pool thread runs pykka's own loop for it until the mailbox is empty or it
has had ``TURN`` messages. It is on one thread at a time, so its messages keep their order.
Pooled actors must never block: a waiting handler holds a thread every other actor needs.
"""

from __future__ import annotations

import collections
import queue
import sys
from typing import TYPE_CHECKING, Any

import structlog

from candlecast.actors.base import Actor
from candlecast.runtime.threads import StoppableThread

if TYPE_CHECKING:
    from pykka._envelope import Envelope

TURN = 64
_log = structlog.get_logger(__name__)
_RUN = "run"


class _TurnOver(Exception):
    """Raised by a pooled mailbox's ``get`` to end the actor's turn on its pool thread."""


class ActorPool:
    """A run queue of actors with mail, and the threads that serve it."""

    def __init__(self, name: str, threads: int) -> None:
        self._runnable: queue.SimpleQueue[PooledActor | None] = queue.SimpleQueue()
        self._threads = [_PoolThread(f"{name}-{index}", self._runnable) for index in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ends the threads once the actors already queued had their turn; stop the actors first."""
        for _ in self._threads:
            self._runnable.put(None)
        for thread in self._threads:
            thread.stop()

    def schedule(self, actor: PooledActor) -> None:
        self._runnable.put(actor)


class _PoolThread(StoppableThread):
    def __init__(self, name: str, runnable: queue.SimpleQueue[PooledActor | None]) -> None:
        super().__init__(name)
        self._runnable = runnable

    def loop(self) -> None:
        while (actor := self._runnable.get()) is not None:
            try:
                actor.take_turn()
            except Exception:
                # pykka answers a handler's failure itself; this is the pool's own machinery
                # failing for one actor, which must not leave every other actor unserved.
                _log.exception("pooled actor's turn failed", actor=str(actor.actor_ref))


class PooledMailbox:
    """pykka's inbox interface. Whoever takes the run token (a dict entry: ``dict.pop`` is
    atomic) schedules the actor; the actor gives the token back when its turn ends and takes
    it again if mail arrived meanwhile, so no message waits unscheduled and no actor runs twice."""

    def __init__(self, actor: PooledActor) -> None:
        self._actor = actor
        self._mail: collections.deque[Envelope[Any]] = collections.deque()
        self._token: dict[str, bool] = {}  # taken until the actor's first turn, which runs on_start
        self._turn_left = 0

    def put(self, envelope: Envelope[Any], /) -> None:
        self._mail.append(envelope)
        if self._token.pop(_RUN, False):
            self._actor.pool.schedule(self._actor)

    def get(self) -> Envelope[Any]:
        if not self._mail or not self._turn_left:
            raise _TurnOver
        self._turn_left -= 1
        return self._mail.popleft()

    def empty(self) -> bool:
        return not self._mail

    def begin_turn(self, messages: int) -> None:
        self._turn_left = messages

    def end_turn(self) -> None:
        self._token[_RUN] = True
        if self._mail and self._token.pop(_RUN, False):
            self._actor.pool.schedule(self._actor)


class PooledActor(Actor):
    """An ``Actor`` run by ``pool``; ``start(pool, ...)`` passes it first."""

    actor_inbox: PooledMailbox

    def __init__(self, pool: ActorPool, **context: Any) -> None:
        self.pool = pool
        super().__init__(**context)
        self._started = False

    def _create_actor_inbox(self) -> PooledMailbox:  # type: ignore[override]
        return PooledMailbox(self)

    def _start_actor_loop(self) -> None:
        self.pool.schedule(self)

    def take_turn(self) -> None:
        if not self._started:
            self._started = True
            self._actor_loop_setup()
        self.actor_inbox.begin_turn(TURN)
        try:
            self._actor_loop_running()
        except _TurnOver:
            self.actor_inbox.end_turn()
            return
        self.actor_inbox.begin_turn(sys.maxsize)  # stopped: pykka answers what is left
        self._actor_loop_teardown()
