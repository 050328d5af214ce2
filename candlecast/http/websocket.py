"""The WebSocket bridge inside the Falcon app: an upgrade request arriving through the
``UpgradeListener`` becomes a client session here, after the app's middleware (rate limit)
has run, so both ports obey the same rules.

The session thread reads the client's commands and tells the broadcaster; everything sent to
the client goes through the broadcaster's non-blocking ``offer`` into the session's outbox.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import falcon
import pykka
import structlog

from candlecast import subscriptions, wire
from candlecast.http.upgrade_listener import SOCKET_KEY
from candlecast.http.ws_protocol import CommandError, ConnectRequest, parse_command, parse_query
from candlecast.http.ws_session import HandshakeRejected, WebSocketSession
from candlecast.messages import ChangeSubscriptions, ClientConnected, ClientDisconnected

WEBSOCKET_PATHS = ("/", "/ws")

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    outbox_size: int
    ping_interval_s: float
    send_timeout_s: float
    max_message_bytes: int
    compression: bool


def _error(detail: str, request_id: Any = None) -> str:
    return wire.encode({"type": "error", "error": "bad_command", "detail": detail, "id": request_id}).decode()


class WebSocketUpgrade:
    """Falcon middleware that takes over upgrade requests on the WebSocket port."""

    def __init__(self, broadcaster: Any, options: SessionOptions) -> None:
        self._broadcaster = broadcaster
        self._options = options

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_header("Upgrade", default="").lower() != "websocket":
            return
        if SOCKET_KEY not in req.env:
            raise falcon.HTTPBadRequest(
                title="WebSocket not served here", description="connect WebSocket clients to the WebSocket port"
            )
        if req.path not in WEBSOCKET_PATHS:
            raise falcon.HTTPNotFound(title="Not found", description=f"WebSocket paths: {', '.join(WEBSOCKET_PATHS)}")
        try:
            initial = parse_query(req.query_string)
        except CommandError as exc:
            raise falcon.HTTPBadRequest(title="Bad subscription", description=str(exc)) from exc
        try:
            session = WebSocketSession(
                req.env,
                outbox_size=self._options.outbox_size,
                ping_interval=self._options.ping_interval_s,
                send_timeout=self._options.send_timeout_s,
                max_message_size=self._options.max_message_bytes,
                compression=self._options.compression,
            )
        except HandshakeRejected as exc:
            raise falcon.HTTPBadRequest(title="Bad WebSocket handshake", description=str(exc)) from exc
        resp.complete = True
        self._serve(session, initial)

    def _serve(self, session: WebSocketSession, initial: ConnectRequest) -> None:
        client_log = log.bind(client_id=session.session_id, peer=session.peer)
        client_log.info("websocket client connected")
        try:
            if initial.pairs != subscriptions.DEFAULT:
                ack = {"type": "subscribed", "id": None, "subscriptions": subscriptions.describe(initial.pairs)}
                session.offer(wire.encode(ack).decode())
            self._broadcaster.tell(ClientConnected(
                client_id=session.session_id, session=session, subscriptions=initial.pairs, since=initial.since
            ))
            while (text := session.receive()) is not None:
                try:
                    command = parse_command(text)
                except CommandError as exc:
                    session.offer(_error(str(exc)))
                    continue
                self._broadcaster.tell(ChangeSubscriptions(
                    client_id=session.session_id, op=command.op, pairs=command.pairs,
                    request_id=command.request_id, since=command.since,
                ))
        except pykka.ActorDeadError:
            session.close(1001, "server shutting down")
        finally:
            try:
                self._broadcaster.tell(ClientDisconnected(client_id=session.session_id))
            except pykka.ActorDeadError:
                pass
            session.finish()
            client_log.info("websocket client disconnected")
