"""A thread that fetches something from upstream now and then and tells the result.

Owned by an actor so the actor's mailbox never waits on the network. A failure, or an answer
that cannot be used, logs one warning and is retried with capped, jittered backoff, so the
poller outlives anything the exchange sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import pykka
import structlog

from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.backoff import full_jitter
from candlecast.runtime.threads import StoppableThread
from candlecast.upstream.rest_client import RateLimited, UpstreamUnavailable

T = TypeVar("T")


class Poller(Generic[T], StoppableThread):
    def __init__(
        self,
        name: str,
        fetch: Callable[[], T],
        deliver: Callable[[T], None],
        *,
        interval_s: float,
        retry_cap_s: float,
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        super().__init__(name, on_ended)
        self._fetch = fetch
        self._deliver = deliver
        self._interval_s = interval_s
        self._retry_cap_s = retry_cap_s
        self._log = structlog.get_logger(__name__).bind(poller=name)
        self.failures = 0

    def loop(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            try:
                result = self._fetch()
            except Exception as exc:
                delay = max(0.5, full_jitter(failures, 1.0, self._retry_cap_s))
                if isinstance(exc, RateLimited):
                    delay = max(delay, exc.retry_after_s)
                if isinstance(exc, UpstreamUnavailable):
                    self._log.warning("upstream request failed", error=str(exc), retry_in_s=round(delay, 1))
                else:
                    self._log.exception("upstream answer not usable", retry_in_s=round(delay, 1))
                failures += 1
                self.failures += 1
            else:
                failures = 0
                delay = self._interval_s
                try:
                    self._deliver(result)
                except pykka.ActorDeadError:
                    self.owner_gone()
                    return
            self.stopped.wait(delay)
