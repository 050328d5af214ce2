"""The simulator's stream endpoints: ``/ws``, ``/ws/<streams>`` and ``/stream?streams=...``, as on
``wss://data-stream.binance.vision``.

Each connection runs on its listener thread: upgrade, tell the hub, read the client's requests.
Replies and trades are sent by the hub, so a client's frames leave from one place in order.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

import falcon
import pykka

from candlecast.actors.base import tell_if_alive
from candlecast.http.binance_request import ApiError
from candlecast.sim import errors, protocol
from candlecast.sim.messages import ClientClosed, ClientOpened, ClientRequest, FrameReceived
from candlecast.sim.ws_session import ClientFrame, HandshakeRejected, WebSocketSession

_connection_ids = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class StreamOptions:
    outbox_size: int = 4096
    send_timeout: float = 5.0
    max_message_size: int = 64 * 1024


class StreamEndpoint:
    def __init__(self, hub: Any, known_streams: frozenset[str], options: StreamOptions, combined: bool) -> None:
        self._hub = hub
        self._known = known_streams
        self._options = options
        self._combined = combined

    def on_get(self, req: falcon.Request, resp: falcon.Response, streams: str = "") -> None:
        named = (req.get_param("streams") or "") if self._combined else streams
        try:
            names = protocol.connection_streams(named, self._known)
        except protocol.InvalidStreams as exc:
            raise ApiError(-1100, str(exc)) from exc
        if (req.get_header("Upgrade") or "").lower() != "websocket":
            raise ApiError(-1100, "Invalid request: expected a WebSocket upgrade")
        connection_id = next(_connection_ids)
        hub = self._hub

        def report(kind: ClientFrame) -> None:
            # False while the exchange is stopping; nobody counts any more.
            tell_if_alive(hub, FrameReceived(connection_id, kind, time.monotonic()))

        try:
            session = WebSocketSession(
                req.env,
                outbox_size=self._options.outbox_size,
                ping_interval=None,
                send_timeout=self._options.send_timeout,
                max_message_size=self._options.max_message_size,
                compression=False,
                on_frame=report,
            )
        except HandshakeRejected as exc:
            raise ApiError(-1100, f"Invalid request: {exc}") from exc
        self._serve(connection_id, session, names)

    def _serve(self, connection_id: int, session: WebSocketSession, streams: tuple[str, ...]) -> None:
        try:
            self._hub.tell(ClientOpened(connection_id, session, streams, self._combined, time.monotonic()))
            while (text := session.receive()) is not None:
                self._hub.tell(ClientRequest(connection_id, protocol.parse_request(text, self._known)))
            self._hub.tell(ClientClosed(connection_id))
        except pykka.ActorDeadError:
            pass  # the exchange is gone; finishing the session closes the connection
        finally:
            session.finish()


def create_stream_app(
    hub: Any, known_streams: frozenset[str], options: StreamOptions
) -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App()
    errors.install(app)
    raw = StreamEndpoint(hub, known_streams, options, combined=False)
    app.add_route("/ws", raw)
    app.add_route("/ws/{streams:path}", raw)
    app.add_route("/stream", StreamEndpoint(hub, known_streams, options, combined=True))
    return app
