"""The actor that owns both listeners, waitress for REST and the WebSocket port, and the thread
that reads every WebSocket client.

Binding happens at construction, so the ports are known before anything starts and a port that
cannot be had ends the start with a ``ListenError``; on_stop closes every client first.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import falcon
import pykka

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.http.client_reader import ClientReader
from candlecast.http.close_codes import CloseCode
from candlecast.http.upgrade_listener import UpgradeListener
from candlecast.http.waitress_thread import WaitressThread
from candlecast.messages.fanout import DisconnectAll, UpgradeRefused
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.supervision import Supervisor

WAITRESS_BODY_BACKSTOP = 1 << 20
# Threads for requests on the WebSocket port. An upgrade takes about a millisecond, but a client
# sending its request slowly holds a thread up to the handshake timeout: this many such clients
# delay the others' handshakes, rather than each taking a thread of its own.
REQUEST_THREADS = 128


# waitress stops accepting at its connection limit (100 by default) and closes an idle
# connection only after 120 s: a client leaking keep-alive connections, or anyone holding 100
# open, had every other REST client wait. Idle connections cost a descriptor each, no thread;
# each address holds at most --rest-max-connections-per-ip of them.
REST_CONNECTION_LIMIT = 1000
REST_IDLE_TIMEOUT_S = 30
REST_IDLE_CHECK_S = 5


def rest_server(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    host: str,
    port: int,
    max_body_bytes: int,
    max_connections_per_address: int,
    on_ended: Callable[[ThreadEnded], object] | None = None,
) -> WaitressThread:
    """The REST port's waitress, built in one place so the REST benchmark's bare-app ceiling
    runs on exactly the settings the daemon uses."""
    return WaitressThread(
        app=app,
        host=host,
        port=port,
        name="rest-server",
        threads=8,
        ident="candlecast",
        max_connections_per_address=max_connections_per_address,
        on_ended=on_ended,
        connection_limit=REST_CONNECTION_LIMIT,
        channel_timeout=REST_IDLE_TIMEOUT_S,
        cleanup_interval=REST_IDLE_CHECK_S,
        # A backstop only: the app answers oversized bodies itself, with JSON.
        max_request_body_size=max(WAITRESS_BODY_BACKSTOP, max_body_bytes),
        clear_untrusted_proxy_headers=True,
    )


class ListenError(Exception):
    """A port could not be listened on (taken, or not ours to take); the message names it."""


@contextlib.contextmanager
def _listening(what: str, host: str, port: int) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port} for {what}: {exc.strerror or exc}") from exc


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """What one address, and everyone together, may hold open on the two ports."""

    rest_per_address: int
    upgrades_per_address: int
    pending_upgrades: int


class HttpServerActor(Actor):
    """Its threads (the two listeners' loops, the WebSocket reader) report an unexpected end to
    it: a listener's loop is started again on the same socket; the reader, which holds every
    client's state, cannot be, so it is reported failed and its clients closed (1011) to reconnect."""

    supervisor: Supervisor

    def __init__(
        self,
        *,
        make_app: Callable[[pykka.ActorRef[Any], ClientReader], falcon.App[falcon.Request, falcon.Response]],
        make_reader: Callable[[Callable[[ThreadEnded], object]], ClientReader],
        host: str,
        http_port: int,
        ws_port: int,
        max_body_bytes: int,
        handshake_timeout_s: float,
        limits: ConnectionLimits,
        broadcaster: Any,
    ) -> None:
        super().__init__(actor="http")
        self.supervisor = Supervisor()
        self._reader = make_reader(self._tell_ended)
        app = make_app(self.actor_ref, self._reader)
        with _listening("REST", host, http_port):
            self._rest = rest_server(
                app,
                host=host,
                port=http_port,
                max_body_bytes=max_body_bytes,
                max_connections_per_address=limits.rest_per_address,
                on_ended=self._tell_ended,
            )
        try:
            with _listening("WebSocket", host, ws_port):
                self._websocket = UpgradeListener(
                    app=app,
                    host=host,
                    port=ws_port,
                    name="websocket-listener",
                    handshake_timeout_s=handshake_timeout_s,
                    threads=REQUEST_THREADS,
                    per_address=limits.upgrades_per_address,
                    max_pending=limits.pending_upgrades,
                    on_refused=lambda peer: tell_if_alive(broadcaster, UpgradeRefused(peer)),
                    on_ended=self._tell_ended,
                )
        except ListenError:
            self._rest.stop()  # bound, never started: its port goes back
            raise
        self._broadcaster = broadcaster

    @property
    def http_port(self) -> int:
        return self._rest.port

    @property
    def ws_port(self) -> int:
        return self._websocket.port

    def _tell_ended(self, ended: ThreadEnded) -> None:
        tell_if_alive(self.actor_ref, ended)

    def on_start(self) -> None:
        self.supervisor.start(self._reader)
        self.supervisor.start(self._rest.thread)
        self.supervisor.start(self._websocket.thread)

    def on_stop(self) -> None:
        self._websocket.stop_accepting()
        self._websocket.close()
        self._broadcaster.tell(DisconnectAll(code=CloseCode.GOING_AWAY, reason="server shutting down"))
        self._reader.stop()
        self._rest.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case ThreadEnded(thread=self._reader.name, cause=cause):
                self.supervisor.failed(self._reader.name, cause)
                self._broadcaster.tell(DisconnectAll(code=CloseCode.INTERNAL_ERROR, reason="server error; reconnect"))
            case ThreadEnded():
                self.supervisor.restart(message, self._rest.thread, self._rest.new_thread)
                self.supervisor.restart(message, self._websocket.thread, self._websocket.new_thread)
        return None
