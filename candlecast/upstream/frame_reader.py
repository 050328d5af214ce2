"""The receive half of an upstream WebSocket: big reads, every frame in them decoded at once.

websocket-client keeps the rest (connecting, TLS, the handshake, every send under its lock);
its per-frame Python costs more than a trade may, so this reads up to ``READ_SIZE`` bytes per
call straight from its socket and decodes them with ``ws_frames``. websocket-client reads the
handshake's response a byte at a time, so no frame bytes are left behind in it.
"""

from __future__ import annotations

import select
import ssl

import websocket

from candlecast.upstream import ws_frames

READ_SIZE = 65536


class UpstreamClosed(Exception):
    """The server sent a close frame."""


class FrameReader:
    """Owned by the one thread that reads the connection."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        if ws.sock is None:
            raise ValueError("FrameReader needs a connected WebSocket")
        self._ws = ws
        self._sock = ws.sock
        self._decoder = ws_frames.FrameDecoder()
        # poll, not select: select fails on descriptors past 1024, which a process serving
        # thousands of WebSocket clients hands out to a reconnecting upstream socket.
        self._poll = select.poll()
        self._poll.register(self._sock, select.POLLIN)
        # Set by a close frame, so the messages before it in the same read still count.
        self._closed_by: str | None = None
        # More was waiting when the last read returned: the reader is behind its socket. A read
        # that fills its buffer says so without asking; over TLS a read returns one record at most.
        self.more_waiting = False

    def readable(self, timeout_s: float) -> bool:
        """Bytes (or a close already read) arrive within ``timeout_s`` (0: are already there)."""
        if self._closed_by is not None:
            return True
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        return bool(self._poll.poll(timeout_s * 1000))

    def read(self) -> list[bytes]:
        """Payloads of the data messages one read completed; pings answered on the way.

        Waits up to the socket's timeout (raising ``TimeoutError``); raises ``UpstreamClosed``
        once a close frame was read (answered at once), ``ws_frames.ProtocolError`` on a broken frame.
        """
        if self._closed_by is not None:
            raise UpstreamClosed(f"server closed the connection {self._closed_by}".rstrip())
        data = self._sock.recv(READ_SIZE)
        if not data:
            raise websocket.WebSocketConnectionClosedException("Connection to remote host was lost.")
        self.more_waiting = len(data) == READ_SIZE or self.readable(0)
        payloads = []
        for opcode, payload in self._decoder.feed(data):
            if opcode in (ws_frames.OPCODE_TEXT, ws_frames.OPCODE_BINARY):
                payloads.append(payload)
            elif opcode == ws_frames.OPCODE_PING:
                self._ws.pong(payload)
            elif opcode == ws_frames.OPCODE_CLOSE:
                self._closed_by = ws_frames.close_reason(payload)
                self._ws.send_close()
                break
        return payloads
