"""One thread reads every WebSocket client: a selector over their sockets, wsproto per client.

Clients say little (commands, pongs), so one thread serves thousands of them where a thread
per client would cost a stack and a wakeup each. The reader never writes: pongs, pings and
error replies go to the broadcaster, which owns the writing half of every socket, so frames
from two threads never interleave. It pings clients that have been quiet for
``ping_interval_s`` and lets go of those still silent one interval later.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import selectors
import socket
import time
from typing import Any, Callable

import pykka
from limits import RateLimitItem, parse_many
from wsproto import WSConnection
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from candlecast import wire
from candlecast.actors.stoppable import StoppableThread
from candlecast.http.ws_protocol import CommandError, parse_command
from candlecast.messages import ChangeSubscriptions, ClientControl, ClientGone, ClientNotice

RECEIVE_BYTES = 65536
PING_TIMEOUT_CLOSE_CODE = 1011


class _Window:
    """When a client's last ``limit.amount`` messages came: one more within the limit's time of
    the oldest is one too many."""

    __slots__ = ("limit", "_times")

    def __init__(self, limit: RateLimitItem) -> None:
        self.limit = limit
        self._times: collections.deque[float] = collections.deque(maxlen=limit.amount)

    def admit(self, now: float) -> bool:
        if len(self._times) == self.limit.amount and now - self._times[0] < self.limit.get_expiry():
            return False
        self._times.append(now)
        return True


@dataclasses.dataclass
class _Reading:
    """What the reader knows of one client; only the reader's thread touches it."""

    client_id: int
    sock: socket.socket
    connection: WSConnection
    heard_at: float
    pinged: bool = False
    parts: list[str | bytes] = dataclasses.field(default_factory=list)
    message_bytes: int = 0
    windows: tuple[_Window, ...] = ()


def _whole_message(event: Any) -> bool:
    """What counts against the message rate: a ping, a pong, or a text or binary message's last frame."""
    return isinstance(event, (Ping, Pong)) or (isinstance(event, (TextMessage, BytesMessage)) and event.message_finished)


def error_text(detail: str, request_id: Any = None) -> str:
    return wire.encode({"type": "error", "error": "bad_command", "detail": detail, "id": request_id}).decode()


class ClientReader(StoppableThread):
    def __init__(
        self,
        broadcaster: Any,
        ping_interval_s: float,
        max_message_bytes: int,
        message_rate: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``message_rate``: messages a client may send, in ``limits`` notation; empty: any."""
        super().__init__("websocket-reader")
        self._broadcaster = broadcaster
        self._ping_interval_s = ping_interval_s
        self._max_message_bytes = max_message_bytes
        self._message_limits = tuple(parse_many(message_rate)) if message_rate else ()
        self._clock = clock
        self._arrivals: queue.SimpleQueue[_Reading] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_write.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._clients: dict[int, _Reading] = {}

    def add(self, client_id: int, sock: socket.socket, connection: WSConnection) -> None:
        """Hand over a client after its handshake; called from the handshake's thread."""
        windows = tuple(_Window(limit) for limit in self._message_limits)
        self._arrivals.put(_Reading(client_id, sock, connection, self._clock(), windows=windows))
        self._wake()

    def stop(self) -> None:
        self.stopped.set()
        self._wake()
        super().stop()

    def run(self) -> None:
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        check_every = max(0.05, self._ping_interval_s / 4)
        next_check = self._clock() + check_every
        try:
            while not self.stopped.is_set():
                for key, _ in self._selector.select(timeout=check_every):
                    if key.data is None:
                        self._take_arrivals()
                    else:
                        self._read(key.data)
                now = self._clock()
                if now >= next_check:
                    self._ping_quiet(now)
                    next_check = now + check_every
        except pykka.ActorDeadError:
            pass
        finally:
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()

    # --- inside ------------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_write.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or stopping

    def _take_arrivals(self) -> None:
        try:
            self._wake_read.recv(4096)
        except BlockingIOError:
            pass
        while True:
            try:
                client = self._arrivals.get_nowait()
            except queue.Empty:
                return
            self._clients[client.client_id] = client
            self._selector.register(client.sock, selectors.EVENT_READ, client)

    def _read(self, client: _Reading) -> None:
        try:
            data = client.sock.recv(RECEIVE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._let_go(client, "disconnected")
            return
        client.heard_at = self._clock()
        client.pinged = False
        try:
            client.connection.receive_data(data)
            for event in client.connection.events():
                if _whole_message(event) and not self._within_rate(client):
                    return
                if isinstance(event, (TextMessage, BytesMessage)):
                    if not self._take_part(client, event):
                        return
                elif isinstance(event, Ping):
                    self._tell(ClientControl(client.client_id, client.connection.send(event.response())))
                elif isinstance(event, CloseConnection):
                    self._let_go(client, "closed by client", client.connection.send(event.response()))
                    return
        except (LocalProtocolError, RemoteProtocolError) as exc:
            self._let_go(client, f"protocol error: {exc}")

    def _within_rate(self, client: _Reading) -> bool:
        """Count one message of the client's; False once it is over a limit, and let go."""
        now = self._clock()
        for window in client.windows:
            if not window.admit(now):
                too_many = CloseConnection(CloseReason.POLICY_VIOLATION, f"too many messages (limit {window.limit})")
                self._let_go(client, "too many messages", self._close_frame(client, too_many))
                return False
        return True

    def _take_part(self, client: _Reading, event: TextMessage | BytesMessage) -> bool:
        client.parts.append(event.data)
        client.message_bytes += len(event.data)
        if client.message_bytes > self._max_message_bytes:
            too_big = CloseConnection(CloseReason.MESSAGE_TOO_BIG, f"messages are limited to {self._max_message_bytes} bytes")
            self._let_go(client, "message too big", client.connection.send(too_big))
            return False
        if event.message_finished:
            parts, client.parts, client.message_bytes = client.parts, [], 0
            self._command(client.client_id, "".join(parts) if isinstance(event, TextMessage) else b"".join(parts))  # type: ignore[arg-type]
        return True

    def _command(self, client_id: int, text: str | bytes) -> None:
        try:
            command = parse_command(text)
        except CommandError as exc:
            self._tell(ClientNotice(client_id, error_text(str(exc))))
            return
        self._tell(ChangeSubscriptions(
            client_id=client_id, op=command.op, pairs=command.pairs, request_id=command.request_id, since=command.since,
        ))

    def _ping_quiet(self, now: float) -> None:
        for client in list(self._clients.values()):
            quiet = now - client.heard_at
            if client.pinged and quiet >= 2 * self._ping_interval_s:
                timeout = CloseConnection(PING_TIMEOUT_CLOSE_CODE, "ping timeout")
                self._let_go(client, "ping timeout", self._close_frame(client, timeout))
            elif not client.pinged and quiet >= self._ping_interval_s:
                client.pinged = True
                self._tell(ClientControl(client.client_id, client.connection.send(Ping())))

    @staticmethod
    def _close_frame(client: _Reading, close: CloseConnection) -> bytes:
        try:
            return client.connection.send(close)
        except LocalProtocolError:
            return b""

    def _let_go(self, client: _Reading, reason: str, farewell: bytes = b"") -> None:
        """Stop reading this client; the broadcaster closes the socket once told."""
        self._selector.unregister(client.sock)
        del self._clients[client.client_id]
        self._tell(ClientGone(client.client_id, reason, farewell))

    def _tell(self, message: Any) -> None:
        self._broadcaster.tell(message)
