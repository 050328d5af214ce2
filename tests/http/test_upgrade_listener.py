"""The WebSocket port's listener serves requests on a bounded set of reused threads: many
requests take no more threads than given, one finding them all busy waits rather than being
refused unless its address already has its share in progress (or the listener as many as it
takes), and closing ends the requests in progress and joins them. Whatever the request, the
answer is HTTP with a JSON error, never silence."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from candlecast.http.upgrade_listener import UpgradeListener
from candlecast.messages.supervision import ThreadEnded
from tests.clients import wait_for

NAME = "test-listener"


def echo_path(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echoes PATH_INFO's bytes: a WSGI str holds them as latin-1 (PEP 3333)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REQUEST_METHOD']} path ".encode() + environ["PATH_INFO"].encode("latin-1")]


def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    raise RuntimeError("a bug")


@contextlib.contextmanager
def listening(
    threads: int,
    handshake_timeout_s: float,
    *,
    per_address: int = 1000,
    on_refused: Callable[[str], None] = lambda peer: None,
    max_pending: int | None = None,
    app: Callable[..., Iterable[bytes]] = echo_path,
    on_ended: Callable[[ThreadEnded], object] | None = None,
) -> Iterator[UpgradeListener]:
    listener = UpgradeListener(
        app=app,
        host="127.0.0.1",
        port=0,
        name=NAME,
        handshake_timeout_s=handshake_timeout_s,
        threads=threads,
        per_address=per_address,
        on_refused=on_refused,
        max_pending=max_pending,
        on_ended=on_ended,
    )
    listener.start()
    try:
        yield listener
    finally:
        listener.stop_accepting()
        listener.close()


def get(port: int, path: str) -> bytes:
    return send(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def send(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return b"".join(iter(lambda: sock.recv(4096), b""))


def json_error(answer: bytes, status: int) -> dict[str, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer
    assert b"\r\nContent-Type: application/json\r\n" in head, head
    error = json.loads(body)
    assert set(error) == {"error", "detail"} and error["error"] and error["detail"], error
    return error


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{NAME}-request")]


def test_many_requests_take_no_more_threads_than_given_and_closing_joins_them() -> None:
    with listening(threads=2, handshake_timeout_s=5.0) as listener:
        for n in range(20):
            assert get(listener.port, f"/{n}").endswith(f"GET path /{n}".encode())
        assert 1 <= len(request_threads()) <= 2
    assert request_threads() == []


def test_a_request_finding_every_thread_busy_waits_for_one() -> None:
    with (
        listening(threads=1, handshake_timeout_s=1.0) as listener,
        socket.create_connection(("127.0.0.1", listener.port), timeout=5) as slow,
    ):
        slow.sendall(b"GET / HTTP/1.1\r\n")  # never finishes: the only thread is its until the timeout
        wait_for(lambda: len(request_threads()) == 1)
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as waiting:
            waiting.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            first_readable, _, _ = select.select([slow, waiting], [], [], 5)
            assert slow in first_readable, "nothing answered while the slow client held the thread"
            assert slow.recv(1024) == b"", "the slow client was hung up on"
            answer = b"".join(iter(lambda: waiting.recv(4096), b""))
        assert answer.endswith(b"path /next"), "served once the slow client's timeout freed the thread"


def test_an_address_with_its_share_in_progress_is_answered_429_at_once_and_served_again_once_one_ends() -> None:
    refused_peers: list[str] = []
    with listening(threads=4, handshake_timeout_s=5.0, per_address=2, on_refused=refused_peers.append) as listener:
        slow = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
        try:
            for sock in slow:
                sock.sendall(b"GET / HTTP/1.1\r\n")  # unfinished: each holds a thread
            wait_for(lambda: len(request_threads()) == 2)
            with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as third:
                third.sendall(b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = b"".join(iter(lambda: third.recv(4096), b""))
            assert select.select(slow, [], [], 0)[0] == [], "answered while both slow requests hold their threads"
            head, _, body = refused.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429 ") and b"Retry-After: 1" in head
            assert json.loads(body)["error"] == "Too many requests"
            assert refused_peers == ["127.0.0.1"]
        finally:
            slow[0].close()
        wait_for(lambda: get(listener.port, "/again").endswith(b"path /again"))
        slow[1].sendall(b"Host: x\r\n\r\n")
        assert b"".join(iter(lambda: slow[1].recv(4096), b"")).endswith(b"path /"), "the other slow request was kept"
        slow[1].close()


def test_the_listener_as_busy_as_it_may_be_answers_503_at_once_and_serves_again_once_one_ends() -> None:
    refused_peers: list[str] = []
    with listening(
        threads=4, handshake_timeout_s=5.0, per_address=3, max_pending=2, on_refused=refused_peers.append
    ) as listener:
        slow = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
        try:
            for sock in slow:
                sock.sendall(b"GET / HTTP/1.1\r\n")
            wait_for(lambda: len(request_threads()) == 2)
            error = json_error(get(listener.port, "/third"), 503)
            assert "in progress" in error["detail"] and refused_peers == ["127.0.0.1"]
        finally:
            for sock in slow:
                sock.close()
        wait_for(lambda: get(listener.port, "/again").endswith(b"path /again"))


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/caf\u00e9".encode(), "/caf\u00e9".encode()),
        (b"/caf%C3%A9", "/caf\u00e9".encode()),
        (b"/%FF%00", b"/\xff\x00"),
        (b"/a%2Fb", b"/a/b"),
    ],
)
def test_the_path_reaches_the_app_as_its_raw_bytes_percent_decoded(raw: bytes, path: bytes) -> None:
    with listening(threads=1, handshake_timeout_s=5.0) as listener:
        answer = send(listener.port, b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"GET path " + path)


def test_any_method_reaches_the_app() -> None:
    with listening(threads=1, handshake_timeout_s=5.0) as listener:
        assert send(listener.port, b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"BREW path /pot")


def test_an_app_that_raises_is_answered_500_in_json_not_silence() -> None:
    with listening(threads=1, handshake_timeout_s=5.0, app=failing) as listener:
        json_error(get(listener.port, "/"), 500)


@pytest.mark.parametrize(
    "request_head",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    ],
)
def test_a_request_that_cannot_be_parsed_is_answered_4xx_in_json(request_head: bytes) -> None:
    with listening(threads=1, handshake_timeout_s=5.0) as listener:
        answer = send(listener.port, request_head)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    json_error(answer, status)


def test_closing_ends_a_request_still_arriving_at_once() -> None:
    """A client that sent half a request line and waits must not hold the close for its whole
    handshake timeout."""
    with socket.socket() as client:
        with listening(threads=2, handshake_timeout_s=60.0) as listener:
            client.connect(("127.0.0.1", listener.port))
            client.sendall(b"GET /ha")
            wait_for(lambda: len(request_threads()) == 1)
            closer = threading.Thread(target=lambda: (listener.stop_accepting(), listener.close()))
            closer.start()
            closer.join(timeout=5)
            assert not closer.is_alive(), "close waited for the request still arriving"
        assert request_threads() == []


def test_an_accept_loop_ended_by_a_fault_is_reported_and_a_new_one_serves_on_the_same_port() -> None:
    ended: list[ThreadEnded] = []

    def refuse(peer: str) -> None:
        if not ended:
            raise RuntimeError("injected")

    with listening(
        threads=1, handshake_timeout_s=5, per_address=1, on_refused=refuse, on_ended=ended.append
    ) as listener:
        with socket.create_connection(("127.0.0.1", listener.port)) as holding:  # its address's one request
            holding.sendall(b"GET / HTTP/1.1\r\n")
            socket.create_connection(("127.0.0.1", listener.port)).close()  # one too many: refused
            wait_for(lambda: ended, timeout=5)
        assert ended[0].thread == NAME and "RuntimeError: injected" in ended[0].cause
        listener.thread.join(5)
        listener.new_thread().start()
        wait_for(lambda: answered(listener.port, "/again").startswith(b"HTTP/1.1 200"))


def answered(port: int, path: str) -> bytes:
    """The answer to a GET, or nothing if the connection was reset (refused while busy)."""
    try:
        return get(port, path)
    except ConnectionResetError:
        return b""


def test_a_request_without_an_http_version_gets_a_status_line_and_json() -> None:
    with listening(threads=1, handshake_timeout_s=5) as listener:
        answer = send(listener.port, b"GET /health\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"] == "Bad request"
