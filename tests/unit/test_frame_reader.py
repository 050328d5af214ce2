"""BufferedSocket under websocket-client: many frames from one recv, framing unchanged."""

from __future__ import annotations

import socket

import websocket

from candlecast.actors.buffered_socket import BufferedSocket


def server_frame(text: str) -> bytes:
    payload = text.encode()
    length = len(payload)
    header = bytes([0x81, length]) if length < 126 else bytes([0x81, 126]) + length.to_bytes(2, "big")
    return header + payload


class CountingSocket:
    """A socket whose recv calls are counted."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recvs = 0

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(size)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def test_websocket_client_reads_every_frame_through_one_recv() -> None:
    ours, theirs = socket.socketpair()
    texts = [f'{{"n":{n},"pad":"{"x" * (n * 7)}"}}' for n in range(40)]
    theirs.sendall(b"".join(server_frame(text) for text in texts))
    counting = CountingSocket(ours)
    buffered = BufferedSocket(counting)
    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.sock, ws.connected = buffered, True
    ws.settimeout(1.0)
    received = []
    for _ in texts:
        opcode, payload = ws.recv_data()
        received.append(payload.decode())
    assert received == texts and counting.recvs == 1
    assert not buffered.pending()
    theirs.sendall(server_frame("more"))
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b"more")
    ours.close()
    theirs.close()


def test_pending_sees_only_what_is_buffered() -> None:
    ours, theirs = socket.socketpair()
    buffered = BufferedSocket(ours)
    assert not buffered.pending()
    theirs.sendall(b"abcdef")
    assert buffered.recv(2) == b"ab" and buffered.pending()
    assert buffered.recv(10) == b"cdef" and not buffered.pending()
    assert buffered.fileno() == ours.fileno()
    ours.close()
    theirs.close()
