"""Thousands of WebSocket clients in one process: raw non-blocking sockets on one selector.

Each client does the HTTP upgrade itself (checking the 101 and the accept key) and reads frames
with a few lines of parsing; text frames are decoded by msgspec into a Struct holding only the
five fields the measurement needs, so a candle costs a few microseconds. Pings are answered.

Reading comes first: what a socket delivers is stamped with its arrival time and kept, and is
parsed only once no socket has had anything to read for ``PARSE_AFTER_IDLE_S`` (``PARSE_CHUNK``
reads at a time), i.e. after the server's burst of writes. Parsing as it arrived made each burst
of frames take the swarm several times longer to drain, so sockets read late measured the
swarm's own backlog as server latency; parsing in the burst's short pauses took CPU from the
server's writes still under way on the same two cores.

Each read also carries the kernel's receive timestamp (``SO_TIMESTAMPNS``, Linux): when the
bytes reached the client's socket, which is when the server's write of them completed on
loopback. A candle's latency is measured both ways, by that arrival and by the read; their
difference is the time the swarm took to get to a socket, which a client on a machine of its
own would not share with the server. Where no timestamp comes (another platform, or the first
reads before the kernel turns stamping on), the arrival is the read time.

A swarm runs in a process of its own (``run_swarm``), driven over a Pipe by ``bench.fanout``
with small tuples: connect, open a measurement window, report, close, stop. A window is a span
of arrival (wall) time: what arrives inside it is measured, however late it is. Its loop
wakes at least every ``TICK_S``, so every phase ends by its deadline even if the server stalls.
"""

from __future__ import annotations

import array
import base64
import contextlib
import errno
import hashlib
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections import Counter, deque
from multiprocessing.connection import Connection
from typing import Any

import msgspec

TICK_S = 0.1
PARSE_CHUNK = 256
PARSE_AFTER_IDLE_S = 0.02
HANDSHAKE_TIMEOUT_S = 10.0
RETRIES = 3
RETRY_DELAY_S = 0.5
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
# Linux's SO_TIMESTAMPNS (the socket module does not name it): each read's ancillary data then
# holds a struct timespec, the wall-clock time its last bytes arrived.
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None
TIMESTAMP_SPACE = socket.CMSG_SPACE(16)


class Event(msgspec.Struct):
    """What a candle message is measured by; every other field of every message is skipped."""

    type: str
    symbol: str = ""
    open_time: int = 0
    close_time: int = 0
    revision: int = -1


def candle_key(symbol_index: int, open_time: int) -> int:
    """One number per (symbol, second), so latencies of the same candle can be compared across clients."""
    return open_time * 64 + symbol_index


def upgrade_request(host: str, port: int, target: str) -> tuple[bytes, bytes]:
    """The HTTP upgrade request for ``target`` (path and query) and the accept value to expect."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return request, accept


def upgrade_refusal(head: bytes, accept: bytes) -> str | None:
    """Why the response head (status line and headers) is not a valid 101, or None."""
    status_line, _, headers = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[1] != b"101":
        return f"HTTP {parts[1].decode(errors='replace') if len(parts) > 1 else '?'}"
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept":
            return None if value.strip() == accept else "bad accept key"
    return "no accept key"


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask); only for the few short control frames a client sends."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


def arrival_ms(ancillary: list[tuple[int, int, bytes]], read_ms: float) -> float:
    """The kernel's receive time of a read, in ms, or ``read_ms`` if the read carried none."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds * 1000 + nanoseconds / 1e6
    return read_ms


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timeout"
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


class _Client:
    __slots__ = ("accept", "attempt", "buffer", "head", "last", "request", "sock", "started", "target")

    def __init__(self, attempt: int, symbols: int, target: str) -> None:
        self.sock: socket.socket | None = None
        self.accept = b""
        self.request = b""
        self.head = b""
        self.buffer = b""
        self.last = [0] * symbols
        self.attempt = attempt
        self.started = 0.0
        self.target = target  # path and query of its upgrade request: its subscriptions


class Swarm:
    """The clients of one process and what they measured in the current window."""

    def __init__(self, control: Connection, symbols: list[str]) -> None:
        self._control = control
        self._symbols = {s.upper(): i for i, s in enumerate(symbols)}
        self._selector = selectors.DefaultSelector()
        self._selector.register(control, selectors.EVENT_READ, None)
        self._decode = msgspec.json.Decoder(Event).decode
        self._open: set[_Client] = set()
        self._pending: set[_Client] = set()
        self._running = True
        self._connecting: dict[str, Any] | None = None
        self._closes: Counter[str] = Counter()
        self._unparsed: deque[tuple[_Client, bytes, float, float]] = deque()  # (client, data, read ms, arrival ms)
        self._window(0, 0)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        last_read = time.monotonic()
        while self._running:
            idle = time.monotonic() - last_read
            if self._unparsed and idle >= PARSE_AFTER_IDLE_S:
                ready = self._selector.select(0)
                if not ready:
                    self._parse(PARSE_CHUNK)
            else:
                ready = self._selector.select(PARSE_AFTER_IDLE_S - idle if self._unparsed else TICK_S)
            if ready:
                last_read = time.monotonic()
            for key, mask in ready:
                if key.data is None:
                    self._command(self._control.recv())
                elif key.fileobj is not key.data.sock:
                    continue  # dropped by an earlier event of this batch
                elif mask & selectors.EVENT_WRITE:
                    self._on_connected(key.data)
                else:
                    self._on_readable(key.data)
            if self._connecting is not None:
                self._advance_connecting()
        self._close_all()

    def _command(self, command: tuple[Any, ...]) -> None:
        match command:
            case ("connect", host, port, targets, concurrency, deadline):
                self._connecting = {
                    "host": host,
                    "port": port,
                    "to_start": list(targets),
                    "concurrency": concurrency,
                    "deadline": deadline,
                    "retry": [],
                    "failed": Counter(),
                    "errors": Counter(),
                    "started": time.monotonic(),
                }
                self._closes = Counter()
            case ("window", start_ms, end_ms):
                self._window(start_ms, end_ms)
                self._control.send(len(self._open))
            case ("report",):
                self._parse(len(self._unparsed))
                self._control.send(
                    {
                        "latencies": self._latencies.tobytes(),
                        "arrival_latencies": self._arrival_latencies.tobytes(),
                        "candles": self._candles.tobytes(),
                        "revised_ages": self._revised_ages.tobytes(),
                        "frames": self._frames,
                        "received": self._received,
                        "missing": self._missing,
                        "duplicates": self._duplicates,
                        "open": len(self._open),
                        "closes": dict(self._closes),
                    }
                )
            case ("close",):
                closed = self._close_all()
                self._control.send(closed)
            case ("stop",):
                self._running = False

    def _window(self, start_ms: int, end_ms: int) -> None:
        self._start_ms, self._end_ms = start_ms, end_ms
        self._latencies = array.array("d")  # by read time
        self._arrival_latencies = array.array("d")  # the same candles by the kernel's arrival time
        self._candles = array.array("q")  # which candle each latency is of: candle_key()
        self._frames = 0
        self._received = 0
        self._missing = 0
        self._revised_ages = array.array("d")
        self._duplicates = 0

    # --- connecting --------------------------------------------------------------------------

    def _advance_connecting(self) -> None:
        plan = self._connecting
        assert plan is not None
        now = time.monotonic()
        for client in [c for c in self._pending if now - c.started > HANDSHAKE_TIMEOUT_S]:
            self._fail(client, "handshake timeout")
        if now >= plan["deadline"]:
            plan["failed"]["connect deadline"] += len(plan["to_start"]) + len(plan["retry"]) + len(self._pending)
            for client in list(self._pending):
                self._drop(client)
            self._finish_connecting()
            return
        due = [c for c in plan["retry"] if c.started <= now]
        plan["retry"] = [c for c in plan["retry"] if c.started > now]
        while len(self._pending) < plan["concurrency"] and (due or plan["to_start"]):
            if due:
                self._start(due.pop())
            else:
                self._start(_Client(0, len(self._symbols), plan["to_start"].pop()))
        plan["retry"].extend(due)
        if not (self._pending or plan["to_start"] or plan["retry"]):
            self._finish_connecting()

    def _finish_connecting(self) -> None:
        plan = self._connecting
        assert plan is not None
        self._connecting = None
        self._control.send(
            {
                "open": len(self._open),
                "failed": dict(plan["failed"]),
                "errors": dict(plan["errors"]),
                "seconds": time.monotonic() - plan["started"],
            }
        )

    def _start(self, client: _Client) -> None:
        plan = self._connecting
        assert plan is not None
        client.attempt += 1
        client.started = time.monotonic()
        client.head = client.buffer = b""
        client.request, client.accept = upgrade_request(plan["host"], plan["port"], client.target)
        sock = client.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if SO_TIMESTAMPNS is not None:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._pending.add(client)
        code = sock.connect_ex((plan["host"], plan["port"]))
        if code not in (0, errno.EINPROGRESS):
            self._fail(client, errno.errorcode.get(code, str(code)))
            return
        self._selector.register(sock, selectors.EVENT_WRITE, client)

    def _on_connected(self, client: _Client) -> None:
        assert client.sock is not None
        code = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(client, errno.errorcode.get(code, str(code)))
            return
        try:
            client.sock.send(client.request)  # a few hundred bytes into an empty buffer: sent whole
        except OSError as exc:
            self._fail(client, _reason(exc))
            return
        self._selector.modify(client.sock, selectors.EVENT_READ, client)

    def _on_handshake_data(self, client: _Client, data: bytes) -> None:
        head = client.head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            client.head = head
            return
        refusal = upgrade_refusal(head[:end], client.accept)
        if refusal is not None:
            self._fail(client, refusal)
            return
        self._pending.discard(client)
        self._open.add(client)
        client.head = b""
        rest = head[end + 4 :]
        if rest:
            now_ms = time.time() * 1000
            self._unparsed.append((client, rest, now_ms, now_ms))

    def _fail(self, client: _Client, reason: str) -> None:
        plan = self._connecting
        self._drop(client)
        if plan is None:
            return
        plan["errors"][reason] += 1
        if client.attempt <= RETRIES:
            client.started = time.monotonic() + RETRY_DELAY_S * client.attempt
            plan["retry"].append(client)
        else:
            plan["failed"][reason] += 1

    # --- reading -----------------------------------------------------------------------------

    def _on_readable(self, client: _Client) -> None:
        assert client.sock is not None
        try:
            data, ancillary, _, _ = client.sock.recvmsg(65536, TIMESTAMP_SPACE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(client, _reason(exc))
            return
        if not data:
            self._lost(client, "connection closed")
            return
        if client in self._pending:
            self._on_handshake_data(client, data)
        else:
            read_ms = time.time() * 1000
            self._unparsed.append((client, data, read_ms, arrival_ms(ancillary, read_ms)))

    def _lost(self, client: _Client, reason: str) -> None:
        if client in self._pending:
            self._fail(client, reason)
        else:
            self._closes[reason] += 1
            self._drop(client)

    def _parse(self, reads: int) -> None:
        """The oldest ``reads`` reads, in arrival order; those of a client dropped since are skipped."""
        unparsed = self._unparsed
        for _ in range(min(reads, len(unparsed))):
            client, data, read_ms, arrived_ms = unparsed.popleft()
            if client.sock is not None:
                self._on_frames(client, data, read_ms, arrived_ms)

    def _on_frames(self, client: _Client, data: bytes, read_ms: float, arrived_ms: float) -> None:
        buffer = client.buffer + data if client.buffer else data
        size = len(buffer)
        position = 0
        frames = 0
        while size - position >= 2:
            opcode = buffer[position] & 0x0F
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                start += 2
                length = int.from_bytes(buffer[position + 2 : start], "big")
            elif length == 127:
                start += 8
                length = int.from_bytes(buffer[position + 2 : start], "big")
            end = start + length
            if end > size:
                break
            frames += 1
            position = end
            if opcode == OP_TEXT:
                self._on_text(client, buffer[start:end], read_ms, arrived_ms)
            elif opcode == OP_PING:
                self._send(client, masked_frame(OP_PONG, buffer[start:end]))
            elif opcode == OP_CLOSE:
                code = int.from_bytes(buffer[start : start + 2], "big") if length >= 2 else 1005
                self._closes[f"close {code}"] += 1
                self._drop(client)
                return
        client.buffer = buffer[position:] if position < size else b""
        if self._start_ms <= read_ms < self._end_ms:
            self._frames += frames

    def _on_text(self, client: _Client, payload: bytes, read_ms: float, arrived_ms: float) -> None:
        """A first-published candle arriving inside the window: its latency, and the seconds
        skipped since the symbol's previous candle on this client (tracked outside the window too).
        Of re-published candles (revision > 0) only the age is kept."""
        event = self._decode(payload)
        if event.type != "candle":
            return
        if event.revision != 0:
            if self._start_ms <= read_ms < self._end_ms:
                self._revised_ages.append(read_ms - (event.close_time + 1))
            return
        index = self._symbols.get(event.symbol)
        if index is None:
            return
        last = client.last[index]
        if event.open_time > last:
            client.last[index] = event.open_time
        if not self._start_ms <= read_ms < self._end_ms:
            return
        if event.open_time <= last:
            self._duplicates += 1
            return
        if last:
            self._missing += (event.open_time - last) // 1000 - 1
        self._received += 1
        self._latencies.append(read_ms - (event.close_time + 1))
        self._arrival_latencies.append(arrived_ms - (event.close_time + 1))
        self._candles.append(candle_key(index, event.open_time))

    def _send(self, client: _Client, frame: bytes) -> None:
        assert client.sock is not None
        with contextlib.suppress(OSError):
            client.sock.send(frame)

    # --- closing -----------------------------------------------------------------------------

    def _drop(self, client: _Client) -> None:
        self._pending.discard(client)
        self._open.discard(client)
        if client.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(client.sock)
            client.sock.close()
            client.sock = None

    def _close_all(self) -> int:
        """Close every client, open ones with a close frame; a handshake in flight is cut."""
        closed = len(self._open)
        self._unparsed.clear()
        for client in list(self._open):
            self._send(client, masked_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self._drop(client)
        for client in list(self._pending):
            self._drop(client)
        return closed


def run_swarm(control: Connection, symbols: list[str]) -> None:
    """Process entry point; Ctrl-C is the parent's to handle, which stops this over the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(EOFError, BrokenPipeError):
        Swarm(control, symbols).run()
