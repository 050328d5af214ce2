"""The WebSocket port's listener serves requests on a bounded set of reused threads: many
requests take no more threads than given, one finding them all busy waits rather than being
refused unless its address already has its share in progress, and closing joins them."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from candlecast.http.upgrade_listener import UpgradeListener
from tests.clients import wait_for

NAME = "test-listener"


def echo_path(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"path " + environ["PATH_INFO"].encode()]


@contextlib.contextmanager
def listening(
    threads: int, handshake_timeout_s: float, per_address: int = 1000,
    on_refused: Callable[[str], None] = lambda peer: None,
) -> Iterator[UpgradeListener]:
    listener = UpgradeListener(echo_path, "127.0.0.1", 0, NAME, handshake_timeout_s, threads, per_address, on_refused)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop_accepting()
        listener.close()


def get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return b"".join(iter(lambda: sock.recv(4096), b""))


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{NAME}-request")]


def test_many_requests_take_no_more_threads_than_given_and_closing_joins_them() -> None:
    with listening(threads=2, handshake_timeout_s=5.0) as listener:
        for n in range(20):
            assert get(listener.port, f"/{n}").endswith(f"path /{n}".encode())
        assert 1 <= len(request_threads()) <= 2
    assert request_threads() == []


def test_a_request_finding_every_thread_busy_waits_for_one() -> None:
    with listening(threads=1, handshake_timeout_s=1.0) as listener:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\n")  # never finishes: the only thread is its until the timeout
            time.sleep(0.2)
            started = time.monotonic()
            assert get(listener.port, "/next").endswith(b"path /next")
            waited = time.monotonic() - started
            assert slow.recv(1024) == b"", "the slow client was hung up on"
    assert 0.5 < waited < 4.0, "served once the slow client's timeout freed the thread"


def test_an_address_with_its_share_in_progress_is_answered_429_at_once_and_served_again_once_one_ends() -> None:
    refused_peers: list[str] = []
    with listening(threads=4, handshake_timeout_s=5.0, per_address=2, on_refused=refused_peers.append) as listener:
        slow = [socket.create_connection(("127.0.0.1", listener.port), timeout=5) for _ in range(2)]
        try:
            for sock in slow:
                sock.sendall(b"GET / HTTP/1.1\r\n")  # unfinished: each holds a thread
            wait_for(lambda: len(request_threads()) == 2)
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as third:
                third.sendall(b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = b"".join(iter(lambda: third.recv(4096), b""))
            assert time.monotonic() - started < 1.0, "answered without waiting for a thread"
            head, _, body = refused.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429 ") and b"Retry-After: 1" in head
            assert json.loads(body)["error"] == "too many requests"
            assert refused_peers == ["127.0.0.1"]
        finally:
            slow[0].close()
        wait_for(lambda: get(listener.port, "/again").endswith(b"path /again"))
        slow[1].sendall(b"Host: x\r\n\r\n")
        assert b"".join(iter(lambda: slow[1].recv(4096), b"")).endswith(b"path /"), "the other slow request was kept"
        slow[1].close()
