"""The WebSocket upgrade inside the Falcon app, after its middleware (rate limit), so both ports
obey the same rules.

simple-websocket does the handshake; then the socket is split between two owners: the client's
writer actor writes to it and the shared ``ClientReader`` reads from it. No thread is kept per
client.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import socket
from collections.abc import Callable
from typing import Any

import falcon
import simple_websocket
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

from candlecast.actors.base import tell_if_alive
from candlecast.http.client_protocol import CommandError, parse_query
from candlecast.http.client_reader import ClientReader
from candlecast.http.upgrade_listener import SOCKET_KEY, UPGRADED_KEY
from candlecast.messages.fanout import ClientConnected

WEBSOCKET_PATHS = ("/", "/ws")
KEY_BYTES = 16
EXTENSIONS_HEADER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"

_client_ids = itertools.count(1)


class _NoThread:
    """simple-websocket starts a reading thread per client after the handshake; the shared
    reader does that job, so the thread it asks for is never started."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.name = "unused"

    def start(self) -> None:
        return None


def client_encoder(extensions_header: str) -> FrameProtocol | None:
    """A client's own frame encoder when it negotiated permessage-deflate (each client has its
    own compression context), agreed on the same offer the handshake accepted; else None."""
    for offer in extensions_header.split(","):
        if offer.split(";", 1)[0].strip() == PerMessageDeflate.name:
            deflate = PerMessageDeflate()
            if deflate.accept(offer) is not None:
                return FrameProtocol(client=False, extensions=[deflate])
    return None


def _is_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == KEY_BYTES
    except (binascii.Error, ValueError):
        return False


class WebSocketUpgrade:
    """Falcon middleware that takes over upgrade requests on the WebSocket port."""

    def __init__(self, broadcaster: Any, reader: ClientReader, compression: bool, socket_buffer_bytes: int) -> None:
        self._broadcaster = broadcaster
        self._reader = reader
        self._compression = compression
        self._socket_buffer_bytes = socket_buffer_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_header("Upgrade", default="").lower() != "websocket":
            return
        if SOCKET_KEY not in req.env:
            raise falcon.HTTPBadRequest(
                title="WebSocket not served here", description="connect WebSocket clients to the WebSocket port"
            )
        if req.path not in WEBSOCKET_PATHS:
            raise falcon.HTTPNotFound(title="Not found", description=f"WebSocket paths: {', '.join(WEBSOCKET_PATHS)}")
        if req.method != "GET" or not _is_key(req.get_header("Sec-WebSocket-Key", default="")):
            raise falcon.HTTPBadRequest(
                title="Bad WebSocket handshake",
                description="an upgrade is a GET with a Sec-WebSocket-Key of 16 bytes in base64 (RFC 6455, 4.1)",
            )
        if not self._reader.is_alive():
            raise falcon.HTTPServiceUnavailable(
                title="Service unavailable",
                description="WebSocket clients cannot be served now; see /health",
            )
        try:
            initial = parse_query(req.query_string)
        except CommandError as exc:
            raise falcon.HTTPBadRequest(title="Bad subscription", description=str(exc)) from exc
        # simple-websocket accepts permessage-deflate whenever the client offers it; hiding the
        # offer is how compression stays off.
        offer = req.env.get(EXTENSIONS_HEADER, "") if self._compression else ""
        handshake_env = {k: v for k, v in req.env.items() if k != EXTENSIONS_HEADER}
        if offer:
            handshake_env[EXTENSIONS_HEADER] = offer
        try:
            handshake = simple_websocket.Server(handshake_env, thread_class=_NoThread)
        except Exception as exc:
            raise falcon.HTTPBadRequest(
                title="Bad WebSocket handshake", description=str(exc) or type(exc).__name__
            ) from exc
        # The listener closes its request socket when the request ends; detaching hands the
        # connection itself over.
        sock = socket.socket(fileno=req.env[SOCKET_KEY].detach())
        sock.setblocking(False)
        # Left alone, the kernel grows a slow reader's send buffer to megabytes: memory per
        # client, and data that waits there instead of being conflated in the backlog.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._socket_buffer_bytes)
        # Every write is whole frames; Nagle would hold one back until the previous is acknowledged.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req.env[UPGRADED_KEY] = True
        resp.complete = True
        client_id = next(_client_ids)
        connected = ClientConnected(
            client_id=client_id,
            sock=sock,
            peer=req.env.get("REMOTE_ADDR", ""),
            subscriptions=initial.pairs,
            since=initial.since,
            encoder=client_encoder(offer) if offer else None,
        )
        if not tell_if_alive(self._broadcaster, connected):
            sock.close()  # shutting down
            return
        self._reader.add(client_id, sock, handshake.ws)
