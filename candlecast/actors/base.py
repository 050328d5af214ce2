"""What every candlecast actor shares: a told message that fails is logged and counted, never
fatal (pykka stops an actor on an unhandled exception in a tell); a failing ``Query`` goes back
to whoever asked. Its mailbox is a ``queue.SimpleQueue``, implemented in C, because many actors
tell the same few and pykka's default queue takes a Python-level lock on every put and get.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from candlecast.messages.base import Query
from candlecast.messages.supervision import GetComponents

if TYPE_CHECKING:
    from candlecast.runtime.supervision import Supervisor


class Actor(pykka.ThreadingActor):
    # Set by actors that own threads; ``GetComponents`` reads it.
    supervisor: Supervisor | None = None

    def __init__(self, **context: Any) -> None:
        super().__init__()
        self.log = structlog.get_logger(f"candlecast.{type(self).__name__}").bind(**context)
        self.failed_messages = 0

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        return queue.SimpleQueue()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetComponents):
            return {} if self.supervisor is None else self.supervisor.health()
        try:
            return self.handle(message)
        except Exception:
            if isinstance(message, Query):
                raise
            self.failed_messages += 1
            self.log.exception("message handling failed", message_type=type(message).__name__)
            return None

    def handle(self, message: Any) -> Any:
        raise NotImplementedError


def tell_if_alive(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell ``message``; False if the receiver has stopped. Actors stop in order and one may
    outlive a receiver, or a symbol's actor, by a moment: that is not an error."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True
