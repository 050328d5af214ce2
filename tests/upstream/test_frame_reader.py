"""FrameReader on a websocket-client connection: many frames per recv, pings answered, close."""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket
from wsproto.frame_protocol import FrameProtocol, Opcode

from candlecast.upstream import ws_frames
from candlecast.upstream.frame_reader import FrameReader, UpstreamClosed

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


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


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(1.0)
    theirs.settimeout(1.0)
    yield ours, theirs
    ours.close()
    theirs.close()


def connected(sock: object) -> websocket.WebSocket:
    ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
    ws.sock, ws.connected = sock, True
    return ws


def client_frames(data: bytes) -> list[tuple[Opcode, object]]:
    """What the client sent, decoded (and unmasked) by wsproto's server side; a close as (code, reason)."""
    decoder = FrameProtocol(client=False, extensions=[])
    decoder.receive_bytes(data)
    return [(frame.opcode, frame.payload) for frame in decoder.received_frames()]


def test_every_frame_of_a_burst_comes_from_one_recv(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    encoder = FrameProtocol(client=False, extensions=[])
    texts = [f'{{"n":{n},"pad":"{"x" * (n * 7)}"}}' for n in range(40)]
    theirs.sendall(b"".join(bytes(encoder.send_data(text)) for text in texts))
    counting = CountingSocket(ours)
    reader = FrameReader(connected(counting))
    assert reader.readable(0)
    assert reader.read() == [text.encode() for text in texts] and counting.recvs == 1
    assert not reader.readable(0)
    with pytest.raises(TimeoutError):
        reader.read()


def test_a_read_says_whether_more_is_waiting_behind_it(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    encoder = FrameProtocol(client=False, extensions=[])
    reader = FrameReader(connected(ours))
    theirs.sendall(bytes(encoder.send_data("a few bytes")))
    assert reader.read() == [b"a few bytes"] and not reader.more_waiting
    burst = [f"{n:06d}" * 100 for n in range(200)]  # about 120 KiB, more than one read takes
    theirs.sendall(b"".join(bytes(encoder.send_data(text)) for text in burst))
    payloads = reader.read()
    assert reader.more_waiting and 0 < len(payloads) < len(burst)
    while reader.more_waiting:
        payloads += reader.read()
    assert payloads == [text.encode() for text in burst]


def test_pings_are_answered_and_a_close_ends_the_next_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    encoder = FrameProtocol(client=False, extensions=[])
    theirs.sendall(
        bytes(
            encoder.send_data("before")
            + encoder.ping(b"are you there")
            + encoder.send_data("after")
            + encoder.close(1001, "going away")
            + encoder.send_data("ignored")
        )
    )
    reader = FrameReader(connected(ours))
    assert reader.read() == [b"before", b"after"]
    assert client_frames(theirs.recv(1024)) == [(Opcode.PONG, b"are you there"), (Opcode.CLOSE, (1000, ""))]
    assert reader.readable(0)
    with pytest.raises(UpstreamClosed, match="server closed the connection 1001 going away"):
        reader.read()


def test_a_lost_connection_is_reported(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.shutdown(socket.SHUT_WR)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        FrameReader(connected(ours)).read()


def serve_one_handshake(
    listener: socket.socket, then: bytes, replies: list[tuple[Opcode, object]], sent: threading.Event
) -> None:
    """Answers the upgrade, sends ``then`` in the same segment as the response, sets ``sent``,
    keeps the replies."""
    conn, _ = listener.accept()
    with conn:
        request = b""
        while not request.endswith(b"\r\n\r\n"):
            request += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + then
        )
        sent.set()
        replies += client_frames(conn.recv(1024))


def tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a throwaway self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_frames_sent_with_the_handshake_response_are_not_lost(scheme: str, tmp_path: Path) -> None:
    """Over TLS the frames span several records, and a read returns at most one of them."""
    encoder = FrameProtocol(client=False, extensions=[])
    texts = ["first", *(f"{n:04d}" * 500 for n in range(30)), "last"]
    frames = bytes(encoder.send_data(texts[0]) + encoder.ping(b"p"))
    frames += b"".join(bytes(encoder.send_data(text)) for text in texts[1:])
    listener = socket.create_server(("127.0.0.1", 0))
    if scheme == "wss":
        listener = tls_context(tmp_path).wrap_socket(listener, server_side=True)
    with listener:
        replies: list[tuple[Opcode, object]] = []
        sent = threading.Event()
        server = threading.Thread(target=serve_one_handshake, args=(listener, frames, replies, sent))
        server.start()
        ws = websocket.create_connection(
            f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/", timeout=2, sslopt={"cert_reqs": ssl.CERT_NONE}
        )
        reader = FrameReader(ws)
        # On loopback what a send returned from is in the receiver's queue: all has arrived before the first read.
        assert sent.wait(timeout=5)
        payloads = reader.read()
        # Over TLS that read took one record, and says the others wait; a plain read took them all.
        assert reader.more_waiting == (scheme == "wss")
        while len(payloads) < len(texts):
            assert reader.readable(2.0)
            payloads += reader.read()
        server.join(timeout=2)
        ws.close()
    assert payloads == [text.encode() for text in texts] and replies == [(Opcode.PONG, b"p")]


def test_a_socket_past_descriptor_1024_can_be_watched(descriptors_past_1024: None) -> None:
    ours, theirs = socket.socketpair()
    try:
        assert ours.fileno() > 1024
        reader = FrameReader(connected(ours))
        assert not reader.readable(0)
        theirs.sendall(bytes(FrameProtocol(client=False, extensions=[]).send_data("{}")))
        assert reader.readable(1.0) and reader.read() == [b"{}"]
    finally:
        ours.close()
        theirs.close()


def test_a_frame_announcing_more_than_the_limit_ends_the_read_at_its_header(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    frames = FrameReader(connected(ours))
    theirs.sendall(b"\x81\x7f" + (64 << 20).to_bytes(8, "big") + b"{")
    with pytest.raises(ws_frames.ProtocolError, match="over the 1048576-byte limit"):
        frames.read()
