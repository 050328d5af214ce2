"""A socket wrapper that lets websocket-client read many frames per recv syscall.

websocket-client reads each frame in two or three small recv calls (header, extended length,
payload), each a syscall on a plain socket; on a busy stream the syscalls cost more than the
framing. Underneath it, this wrapper fetches up to ``READ_SIZE`` bytes at once and serves
those small reads from memory. websocket-client still does all the framing; everything but
``recv`` goes straight to the wrapped socket.
"""

from __future__ import annotations

import ssl
from typing import Any

READ_SIZE = 65536


class BufferedSocket:
    """Owned by the one thread that reads; sends from other threads pass through untouched."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        """At most ``size`` bytes; one syscall only once the buffered bytes are used up."""
        if self._position >= len(self._buffer):
            self._buffer = self._sock.recv(READ_SIZE)
            self._position = 0
        start = self._position
        self._position = start + size
        return self._buffer[start : self._position]

    def pending(self) -> bool:
        """Bytes are ready without waiting: in this buffer or in the TLS layer's."""
        if self._position < len(self._buffer):
            return True
        return isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
