"""Upgrade requests in progress on the WebSocket port are capped per address: a few addresses
sending requests slowly cannot hold every request thread, and a client from elsewhere gets
its upgrade at once."""

from __future__ import annotations

import socket
import threading

from candlecast.actors.http_server import REQUEST_THREADS
from candlecast.system import RunningSystem
from tests.clients import wait_for

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def upgrade_answer(port: int, source: str) -> bytes:
    """The head of the answer to an upgrade request sent from ``source``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(UPGRADE)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def request_threads() -> int:
    return sum(1 for t in threading.enumerate() if "websocket-listener-request" in t.name)


def test_two_addresses_sending_slowly_leave_threads_for_a_third(system: RunningSystem) -> None:
    slow: list[socket.socket] = []
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            for _ in range(REQUEST_THREADS // 2):
                sock = socket.create_connection(("127.0.0.1", system.ws_port), timeout=5, source_address=(source, 0))
                sock.sendall(b"GET /ws HTTP/1.1\r\n")  # unfinished
                slow.append(sock)
        share = system.settings.ws_max_upgrades_per_ip
        wait_for(lambda: request_threads() >= 2 * share)
        assert upgrade_answer(system.ws_port, "127.0.0.3").startswith(b"HTTP/1.1 101 ")
        assert upgrade_answer(system.ws_port, "127.0.0.1").startswith(b"HTTP/1.1 429 ")
    finally:
        for sock in slow:
            sock.close()
