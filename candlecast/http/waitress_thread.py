"""A waitress server on a thread of its own that can be stopped and joined.

waitress expects to own the main thread; here its loop runs on ours, and stopping closes every
socket from inside that loop (waitress is not thread-safe). Its own answers are JSON like the
app's, and each address may hold a bounded number of connections.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import ServerNotImplemented

from candlecast.http.errors import answer_refusal, error_body, raw_error_response, status_title
from candlecast.http.upgrade_listener import WSGIApp
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.threads import ServingThread

log = structlog.get_logger(__name__)

TOO_MANY_CONNECTIONS_RESPONSE = raw_error_response(
    HTTPStatus.TOO_MANY_REQUESTS, "too many open connections from this address; close some and retry", retry_after_s=1
)
# How long stopping waits for waitress's workers: they are daemon threads, and a request still
# running (an actor ask, at most --ask-timeout-s) has nowhere to write its answer anyway.
WORKERS_STOP_WAIT_S = 1.0


class _JsonErrorTask(ErrorTask):  # type: ignore[misc]  # waitress has no type hints
    """waitress's answer to a request it refused (its ``request.error``), in the app's JSON shape.
    A transfer coding it does not know is the client's fault like any malformed request: 400,
    not waitress's 501."""

    def execute(self) -> None:
        error = self.request.error
        code, reason = (400, "Bad Request") if isinstance(error, ServerNotImplemented) else (error.code, error.reason)
        body = error_body(status_title(reason), error.body)
        self.status = f"{code} {reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    """A connection that answers waitress's errors as JSON and counts itself open for its address."""

    error_task_class = _JsonErrorTask

    def __init__(
        self, server: Any, sock: Any, addr: Any, adj: Any, *, map: Any, connections: _ConnectionsPerAddress
    ) -> None:
        self._connections = connections
        self._peer = addr[0]
        self._counted = False
        super().__init__(server, sock, addr, adj, map)

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self._connections.opened(self._peer)
        self._counted = True

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        if self._counted:
            self._counted = False
            self._connections.closed(self._peer)


class _ConnectionsPerAddress:
    """Admits a connection (as waitress's ``channel_class``) unless its address already holds
    ``limit`` (None: no bound); beyond, it is answered 429 and closed, so that one address
    cannot hold waitress's connection limit and lock everyone else out. waitress's loop thread
    alone accepts and closes connections, so it alone touches the counts."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._open: Counter[str] = Counter()

    def admit(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:  # noqa: PLR0917 (waitress calls it so)
        peer = addr[0]
        if self._limit is not None and self._open[peer] >= self._limit:
            log.info("connection refused: too many open from its address", peer=peer, limit=self._limit)
            answer_refusal(sock, TOO_MANY_CONNECTIONS_RESPONSE)
            sock.close()
            return
        _Channel(server, sock, addr, adj, map=map, connections=self)

    def opened(self, peer: str) -> None:
        self._open[peer] += 1

    def closed(self, peer: str) -> None:
        self._open[peer] -= 1
        if not self._open[peer]:
            del self._open[peer]


def _close_connections_and_listeners(map: dict[Any, Any]) -> None:
    """Close every connection and listening socket in ``map``, leaving the trigger open: a worker
    ending its task pulls it. A connection closes through ``handle_close``, which also wakes a
    worker waiting to hand it more output (a client that stopped reading); a plain close would
    leave that worker waiting for good. A listener's own ``close`` would close the trigger too."""
    for dispatcher in list(map.values()):
        with contextlib.suppress(OSError):  # a socket already gone
            if isinstance(dispatcher, HTTPChannel):
                dispatcher.handle_close()
            elif isinstance(dispatcher, BaseWSGIServer):
                wasyncore.dispatcher.close(dispatcher)


class WaitressThread:
    def __init__(
        self,
        *,
        app: WSGIApp,
        host: str,
        port: int,
        name: str,
        threads: int = 4,
        max_connections_per_address: int | None = None,
        on_ended: Callable[[ThreadEnded], object] | None = None,
        **options: Any,
    ) -> None:
        """`options` are waitress's own settings (ident, max_request_body_size, ...); ``on_ended``
        hears of a loop that ended unexpectedly (``new_thread`` makes its replacement)."""
        self._map: dict[Any, Any] = {}
        # poll(), not waitress's default select(): select() fails on descriptors past 1024, which
        # a process holding a thousand WebSocket clients hands out to new REST connections.
        options.setdefault("asyncore_use_poll", True)
        self._server = waitress.create_server(app, map=self._map, host=host, port=port, threads=threads, **options)
        admission = _ConnectionsPerAddress(max_connections_per_address)
        for dispatcher in self._map.values():  # one listener per address the host resolves to
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.channel_class = admission.admit
        self._name = name
        self._on_ended = on_ended
        self.thread = self.new_thread()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def new_thread(self) -> ServingThread:
        """A thread to run the server's loop, not started, that ``stop`` will end."""
        self.thread = ServingThread(self._name, self._server.run, self._on_ended)
        return self.thread

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        trigger = self._server.trigger
        self.thread.stopped.set()
        if not self.thread.is_alive():
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown(timeout=WORKERS_STOP_WAIT_S)
            return
        trigger.pull_trigger(lambda: _close_connections_and_listeners(self._map))
        self._server.task_dispatcher.shutdown(timeout=WORKERS_STOP_WAIT_S)
        # The trigger leaves the map last, which ends the loop, and closes once the loop has
        # ended: a thunk closing it could run before its own pull writes to it.
        trigger.pull_trigger(trigger.del_channel)
        self.thread.join()
        trigger.close()
