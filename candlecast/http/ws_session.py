"""One accepted WebSocket client: the socket, a bounded outbox and the thread that drains it.

Whoever produces messages (the broadcaster, the simulator's market) only ever calls ``offer``,
which never blocks: a client that stops reading fills its own outbox and nobody else's.
A send that stays blocked longer than ``send_timeout`` ends the session.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
from typing import Any

import simple_websocket

from candlecast.http.upgrade_listener import UPGRADED_KEY

_session_ids = itertools.count(1)
CLOSE_HANDSHAKE_S = 1.0


class HandshakeRejected(Exception):
    """The request claimed to be a WebSocket upgrade but the handshake could not complete."""


class _CloseRequest:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class WebSocketSession:
    def __init__(
        self,
        environ: dict[str, Any],
        *,
        outbox_size: int,
        ping_interval: float,
        send_timeout: float,
        max_message_size: int | None,
        compression: bool,
    ) -> None:
        # simple-websocket always offers permessage-deflate when the client asks; hiding the
        # client's offer is how compression stays off.
        handshake = environ
        if not compression:
            handshake = {k: v for k, v in environ.items() if k != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}
        try:
            self._ws = simple_websocket.Server(
                handshake, ping_interval=ping_interval, max_message_size=max_message_size
            )
        except Exception as exc:
            raise HandshakeRejected(str(exc) or type(exc).__name__) from exc
        environ[UPGRADED_KEY] = True
        self.session_id = next(_session_ids)
        self.peer = environ.get("REMOTE_ADDR", "")
        self._ws.sock.settimeout(send_timeout)
        self._outbox: queue.Queue[str | _CloseRequest] = queue.Queue(outbox_size)
        self._sender = threading.Thread(
            target=self._drain, name=f"ws-send-{self.session_id}", daemon=False
        )
        self._sender.start()

    def offer(self, text: str) -> bool:
        """Queue ``text`` for sending; False when the outbox is full (the caller decides)."""
        try:
            self._outbox.put_nowait(text)
        except queue.Full:
            return False
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Ask the sender to close after what is queued; cut the socket if it is stuck."""
        try:
            self._outbox.put_nowait(_CloseRequest(code, reason))
        except queue.Full:
            self._abort()

    def receive(self) -> str | bytes | None:
        """The client's next message, or None once the connection is gone."""
        try:
            return self._ws.receive()
        except simple_websocket.ConnectionClosed:
            return None

    def finish(self) -> None:
        """End the sender thread; called by the thread that accepted the session."""
        if self._ws.connected:
            self.close(1000, "")
        else:
            self._outbox_put_stop()
        self._sender.join(timeout=self._ws.sock.gettimeout() or None)
        if self._sender.is_alive():
            self._abort()
            self._sender.join()

    def _outbox_put_stop(self) -> None:
        try:
            self._outbox.put_nowait(_CloseRequest(1000, ""))
        except queue.Full:
            pass

    def _abort(self) -> None:
        try:
            self._ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drain(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if isinstance(item, _CloseRequest):
                    if self._ws.connected:
                        self._ws.close(item.code, item.reason)
                    # Give the client a moment to answer the close, then end the socket anyway.
                    self._ws.thread.join(CLOSE_HANDSHAKE_S)
                    self._abort()
                    return
                self._ws.send(item)
            except (simple_websocket.ConnectionClosed, OSError):
                self._abort()
                return
