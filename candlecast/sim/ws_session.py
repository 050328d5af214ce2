"""One client of the simulated exchange: the socket, a bounded outbox and the thread that drains
it (the simulator serves a handful of connections, so a thread each is the simple way).

``offer`` never blocks: a client that stops reading fills its own outbox and nobody else's. A
send blocked past ``send_timeout`` ends the session; ``on_frame`` sees every frame the client sends.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, cast

import simple_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from candlecast.http.close_codes import CloseCode
from candlecast.http.upgrade_listener import UPGRADED_KEY

_session_ids = itertools.count(1)
CLOSE_HANDSHAKE_S = 1.0


class HandshakeRejected(Exception):
    """The request claimed to be a WebSocket upgrade but the handshake could not complete."""


# What a client sent, as the exchange counts it against its limits.
ClientFrame = Literal["text", "binary", "ping", "pong", "close"]
_FRAME_KINDS: dict[type, ClientFrame] = {
    TextMessage: "text",
    BytesMessage: "binary",
    Ping: "ping",
    Pong: "pong",
    CloseConnection: "close",
}
FrameObserver = Callable[[ClientFrame], None]


class _ObservedConnection(WSConnection):
    """wsproto's server connection, naming each frame it decodes to an observer."""

    def __init__(self, observer: FrameObserver) -> None:
        super().__init__(ConnectionType.SERVER)
        self._observer = observer

    def events(self) -> Iterator[Event]:  # type: ignore[override]
        for event in super().events():
            kind = _FRAME_KINDS.get(type(event))
            if kind is not None:
                self._observer(kind)
            yield event


class _ObservedServer(simple_websocket.Server):  # type: ignore[misc]  # simple-websocket has no type hints
    """simple-websocket answers pings and reads pongs itself; this lets a caller see them."""

    def __init__(self, environ: dict[str, Any], observer: FrameObserver, **options: Any) -> None:
        self._observer = observer
        super().__init__(environ, **options)

    def handshake(self) -> None:
        self.ws = _ObservedConnection(self._observer)
        super().handshake()


class _PingRequest:
    __slots__ = ()


class _CloseRequest:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


OWNER_PINGS_INTERVAL_S = 24 * 3600.0  # poll() takes at most ~24 days


class WebSocketSession:
    def __init__(
        self,
        environ: dict[str, Any],
        *,
        outbox_size: int,
        ping_interval: float | None,
        send_timeout: float,
        max_message_size: int | None,
        compression: bool,
        on_frame: FrameObserver | None = None,
    ) -> None:
        # simple-websocket always offers permessage-deflate when the client asks; hiding the
        # client's offer is how compression stays off.
        handshake = environ
        if not compression:
            handshake = {k: v for k, v in environ.items() if k != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}
        # simple-websocket waits for client data on a selector only when it pings on its own;
        # without that its reads would hit the socket timeout, which is meant for sends. An
        # owner that pings on its own schedule gets a day, the longest a Binance-style session lives.
        options: dict[str, Any] = {
            "ping_interval": ping_interval or OWNER_PINGS_INTERVAL_S,
            "max_message_size": max_message_size,
        }
        try:
            if on_frame is None:
                self._ws = simple_websocket.Server(handshake, **options)
            else:
                self._ws = _ObservedServer(handshake, on_frame, **options)
        except Exception as exc:
            raise HandshakeRejected(str(exc) or type(exc).__name__) from exc
        environ[UPGRADED_KEY] = True
        self.session_id = next(_session_ids)
        self.peer = environ.get("REMOTE_ADDR", "")
        self._ws.sock.settimeout(send_timeout)
        self._outbox: queue.Queue[str | bytes | _PingRequest | _CloseRequest] = queue.Queue(outbox_size)
        self._sender = threading.Thread(target=self._drain, name=f"ws-send-{self.session_id}", daemon=False)
        self._sender.start()

    def offer(self, data: str | bytes) -> bool:
        """Queue a text (str) or binary (bytes) message; False when the outbox is full (the caller decides)."""
        try:
            self._outbox.put_nowait(data)
        except queue.Full:
            return False
        return True

    def ping(self) -> bool:
        """Queue a ping, for servers that ping on their own schedule (``ping_interval=None``)."""
        try:
            self._outbox.put_nowait(_PingRequest())
        except queue.Full:
            return False
        return True

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Ask the sender to close after what is queued; cut the socket if it is stuck."""
        try:
            self._outbox.put_nowait(_CloseRequest(code, reason))
        except queue.Full:
            self.abort()

    def receive(self) -> str | bytes | None:
        """The client's next message, or None once the connection is gone."""
        try:
            return cast("str | bytes | None", self._ws.receive())  # simple-websocket has no type hints
        except simple_websocket.ConnectionClosed:
            return None

    def finish(self) -> None:
        """End the sender and reader threads; called by the thread that accepted the session."""
        if self._ws.connected:
            self.close(CloseCode.NORMAL_CLOSURE, "")
        else:
            self._outbox_put_stop()
        self._sender.join(timeout=self._ws.sock.gettimeout() or None)
        if self._sender.is_alive():
            self.abort()
            self._sender.join()
        # The sender ends by cutting the socket, which ends simple-websocket's reader thread;
        # a receive() woken by that cut returns before the reader has quite finished.
        self._ws.thread.join(CLOSE_HANDSHAKE_S)

    def _outbox_put_stop(self) -> None:
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(_CloseRequest(CloseCode.NORMAL_CLOSURE, ""))

    def abort(self) -> None:
        """Cut the TCP connection at once, without a close frame."""
        with contextlib.suppress(OSError):
            self._ws.sock.shutdown(socket.SHUT_RDWR)
        # simple-websocket's close() marks the connection closed without waking a receive()
        # waiting on another thread; its reader thread wakes it only if it sees the socket end,
        # and it stops without doing so when it finds the connection already marked closed.
        self._ws.event.set()

    def _drain(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if isinstance(item, _CloseRequest):
                    if self._ws.connected:
                        self._ws.close(item.code, item.reason)
                    # Give the client a moment to answer the close, then end the socket anyway.
                    self._ws.thread.join(CLOSE_HANDSHAKE_S)
                    self.abort()
                    return
                if isinstance(item, _PingRequest):
                    if self._ws.connected:
                        self._ws.sock.send(self._ws.ws.send(Ping()))
                else:
                    self._ws.send(item)
            except (simple_websocket.ConnectionClosed, OSError):
                self.abort()
                return
