"""The one thing every candlecast actor shares: a told message that fails is logged and
counted, never fatal (pykka stops an actor on an unhandled exception in a tell).
A failing ``Query`` goes back to whoever asked, who maps it to an answer."""

from __future__ import annotations

from typing import Any

import pykka
import structlog

from candlecast.messages import Query


class Actor(pykka.ThreadingActor):
    def __init__(self, **context: Any) -> None:
        super().__init__()
        self.log = structlog.get_logger(f"candlecast.{type(self).__name__}").bind(**context)
        self.failed_messages = 0

    def on_receive(self, message: Any) -> Any:
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
