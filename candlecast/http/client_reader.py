"""One thread reads every WebSocket client: a selector over their sockets, wsproto per client.

Clients say little, so one thread serves thousands where a thread each would cost a stack and a
wakeup. It never writes: pongs, pings and error replies go through the broadcaster to the
client's writer, which owns the writing half of the socket. Whatever fails serving one client
lets that client go (1011); the loop goes on.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import queue
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

import pykka
import structlog
from wsproto import WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from candlecast.http import encoding
from candlecast.http.client_protocol import CommandError, parse_command
from candlecast.http.close_codes import CloseCode
from candlecast.messages.fanout import ChangeSubscriptions, ClientControl, ClientGone, ClientNotice
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.rate_window import RateWindow, parse_rates
from candlecast.runtime.threads import StoppableThread

log = structlog.get_logger(__name__)

RECEIVE_BYTES = 65536
FAULT_PAUSE_S = 0.1


@dataclasses.dataclass
class _Reading:
    """What the reader knows of one client; only the reader's thread touches it."""

    client_id: int
    sock: socket.socket
    connection: WSConnection
    heard_at: float
    pinged: bool = False
    parts: list[str | bytes | bytearray] = dataclasses.field(default_factory=list)
    message_bytes: int = 0
    message_frames: int = 0
    windows: tuple[RateWindow, ...] = ()


def _frame_ends(event: Event) -> bool:
    """What counts against the message rate: every frame, empty fragments included. wsproto
    hands a long frame over in pieces; its last piece ends it."""
    return isinstance(event, (Ping, Pong)) or (isinstance(event, (TextMessage, BytesMessage)) and event.frame_finished)


def error_text(detail: str, request_id: Any = None) -> str:
    return encoding.encode({"type": "error", "error": "bad_command", "detail": detail, "id": request_id}).decode()


class ClientReader(StoppableThread):
    def __init__(
        self,
        *,
        broadcaster: Any,
        ping_interval_s: float,
        max_message_bytes: int,
        max_message_frames: int,
        message_rate: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        """``max_message_frames``: fragments of one message, so empty ones cannot go on forever.
        ``message_rate``: frames a client may send, in ``limits`` notation; empty: any."""
        super().__init__("websocket-reader", on_ended)
        self._broadcaster = broadcaster
        self._ping_interval_s = ping_interval_s
        self._max_message_bytes = max_message_bytes
        self._max_message_frames = max_message_frames
        self._message_limits = parse_rates(message_rate)
        self._monotonic = monotonic
        self._arrivals: queue.SimpleQueue[_Reading] = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_write.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._clients: dict[int, _Reading] = {}
        self._faults: collections.Counter[str] = collections.Counter()  # by exception type

    def add(self, client_id: int, sock: socket.socket, connection: WSConnection) -> None:
        """Hand over a client after its handshake; called from the handshake's thread."""
        windows = tuple(RateWindow(limit) for limit in self._message_limits)
        self._arrivals.put(_Reading(client_id, sock, connection, self._monotonic(), windows=windows))
        self._wake()

    def stop(self) -> None:
        self.stopped.set()
        self._wake()
        super().stop()

    def loop(self) -> None:
        """Serve until stopped; returns early only once the broadcaster is gone."""
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        check_every = max(0.05, self._ping_interval_s / 4)
        next_check = 0.0  # the first turn checks, and reads the time where a failure is caught
        try:
            while not self.stopped.is_set():
                try:
                    next_check = self._turn(check_every, next_check)
                except pykka.ActorDeadError:
                    return
                except Exception as exc:
                    self._fault(exc, "websocket reader turn failed")
                    self.stopped.wait(FAULT_PAUSE_S)  # a fault that recurs at once must not spin
        finally:
            self._selector.close()
            self._wake_read.close()
            self._wake_write.close()

    # --- inside ------------------------------------------------------------------------------

    def _turn(self, check_every: float, next_check: float) -> float:
        """Read whatever is ready, ping whoever is quiet when due; the next ping check's time."""
        for key, _ in self._selector.select(timeout=check_every):
            if key.data is None:
                self._take_arrivals()
            else:
                self._serve(key.data, self._read)
        now = self._monotonic()
        if now < next_check:
            return next_check
        for client in list(self._clients.values()):
            self._serve(client, lambda each: self._ping_if_quiet(each, now))
        return now + check_every

    def _serve(self, client: _Reading, action: Callable[[_Reading], object]) -> None:
        """Do ``action`` for one client; whatever it raises lets that client go, not the others."""
        try:
            action(client)
        except pykka.ActorDeadError:
            raise
        except Exception as exc:
            self._fault(exc, "websocket client failed", client_id=client.client_id)
            failed = CloseConnection(CloseCode.INTERNAL_ERROR, "internal error")
            self._let_go(client, "internal error", self._close_frame(client, failed))

    def _fault(self, exc: Exception, event: str, **context: Any) -> None:
        """Count a fault by kind and log it: with its traceback the first time, then at the 2nd,
        4th, 8th... time, so a fault that recurs cannot flood the log."""
        kind = type(exc).__name__
        self._faults[kind] += 1
        times = self._faults[kind]
        if times == 1:
            log.exception(event, **context)
        elif times & (times - 1) == 0:
            log.warning(event, error=f"{kind}: {exc}", times=times, **context)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already awake (BlockingIOError), or stopping
            self._wake_write.send(b"\0")

    def _take_arrivals(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_read.recv(4096)
        while True:
            try:
                client = self._arrivals.get_nowait()
            except queue.Empty:
                return
            self._clients[client.client_id] = client
            self._serve(client, lambda arrived: self._selector.register(arrived.sock, selectors.EVENT_READ, arrived))

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
        client.heard_at = self._monotonic()
        client.pinged = False
        try:
            client.connection.receive_data(data)
            for event in client.connection.events():
                if _frame_ends(event) and not self._within_rate(client):
                    return
                if isinstance(event, (TextMessage, BytesMessage)):
                    if not self._take_part(client, event):
                        return
                elif isinstance(event, Ping):
                    self._tell(ClientControl(client.client_id, client.connection.send(event.response())))
                elif isinstance(event, CloseConnection):
                    # wsproto answers broken framing (1002) or text that is not UTF-8 (1007) with a
                    # close of its own, the connection still open; a client's close is not that.
                    broken = client.connection.state is ConnectionState.OPEN
                    reason = "protocol error" if broken else "closed by client"
                    self._let_go(client, reason, client.connection.send(event.response()))
                    return
        except (LocalProtocolError, RemoteProtocolError):
            self._let_go(client, "protocol error")

    def _within_rate(self, client: _Reading) -> bool:
        """Count one frame of the client's; False once it is over a limit, and let go."""
        now = self._monotonic()
        for window in client.windows:
            if not window.admit(now):
                too_many = CloseConnection(CloseCode.POLICY_VIOLATION, f"too many messages (limit {window.limit})")
                self._let_go(client, "too many messages", self._close_frame(client, too_many))
                return False
        return True

    def _take_part(self, client: _Reading, event: TextMessage | BytesMessage) -> bool:
        """Add a piece of a message; False once the message is over a limit, and let go."""
        client.parts.append(event.data)
        client.message_bytes += len(event.data)
        client.message_frames += int(event.frame_finished)
        if client.message_bytes > self._max_message_bytes:
            too_big = f"messages are limited to {self._max_message_bytes} bytes"
        elif client.message_frames > self._max_message_frames:
            too_big = f"messages are limited to {self._max_message_frames} frames"
        else:
            too_big = ""
        if too_big:
            close = CloseConnection(CloseCode.MESSAGE_TOO_BIG, too_big)
            self._let_go(client, "message too big", self._close_frame(client, close))
            return False
        if event.message_finished:
            parts, client.parts, client.message_bytes, client.message_frames = client.parts, [], 0, 0
            self._command(client.client_id, "".join(parts) if isinstance(event, TextMessage) else b"".join(parts))  # type: ignore[arg-type]
        return True

    def _command(self, client_id: int, text: str | bytes) -> None:
        try:
            command = parse_command(text)
        except CommandError as exc:
            self._tell(ClientNotice(client_id, error_text(str(exc))))
            return
        self._tell(
            ChangeSubscriptions(
                client_id=client_id,
                op=command.op,
                pairs=command.pairs,
                request_id=command.request_id,
                since=command.since,
            )
        )

    def _ping_if_quiet(self, client: _Reading, now: float) -> None:
        quiet = now - client.heard_at
        if client.pinged and quiet >= 2 * self._ping_interval_s:
            timeout = CloseConnection(CloseCode.INTERNAL_ERROR, "ping timeout")
            self._let_go(client, "ping timeout", self._close_frame(client, timeout))
        elif not client.pinged and quiet >= self._ping_interval_s:
            client.pinged = True
            self._tell(ClientControl(client.client_id, client.connection.send(Ping())))

    @staticmethod
    def _close_frame(client: _Reading, close: CloseConnection) -> bytes:
        """The close frame to send, or nothing from a connection already closing or broken."""
        try:
            return client.connection.send(close)
        except Exception:
            return b""

    def _let_go(self, client: _Reading, reason: str, farewell: bytes = b"") -> None:
        """Stop reading this client, once; the broadcaster closes the socket once told."""
        if self._clients.pop(client.client_id, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):  # not registered: it failed on arrival
            self._selector.unregister(client.sock)
        self._tell(ClientGone(client.client_id, reason, farewell))

    def _tell(self, message: Any) -> None:
        self._broadcaster.tell(message)
