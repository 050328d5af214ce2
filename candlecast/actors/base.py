"""What every candlecast actor shares: a told message that fails is logged and counted, never
fatal (pykka stops an actor on an unhandled exception in a tell); a failing ``Query`` goes back
to whoever asked, who maps it to an answer. And a cheaper mailbox: ``queue.SimpleQueue`` is
implemented in C, where pykka's default ``queue.Queue`` takes a Python-level lock and condition
on every put and get; with a thousand aggregators telling the same few actors, that lock was
where the ingest pipeline spent most of its time."""

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
