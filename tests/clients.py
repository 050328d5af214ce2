"""Small real clients for tests: JSON over HTTP and a WebSocket reader with deadlines."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import websocket

T = TypeVar("T")


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    body: bytes | str | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_for_at_least(count: int, read: Callable[[], Sequence[T]], timeout: float = 10.0) -> Sequence[T]:
    """Poll ``read()`` until it holds ``count`` items or more; those items."""

    def enough() -> Sequence[T] | None:
        items = read()
        return items if len(items) >= count else None

    items: Sequence[T] = wait_for(enough, timeout)
    return items


class WsClient:
    def __init__(self, url: str, timeout: float = 5.0, receive_buffer: int | None = None) -> None:
        options = {"sockopt": ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)} if receive_buffer else {}
        self.socket = websocket.create_connection(url, timeout=timeout, **options)
        self.received: list[dict[str, Any]] = []  # every message, whoever read it

    def send(self, body: Any) -> None:
        self.socket.send(body if isinstance(body, str) else json.dumps(body))

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        self.socket.settimeout(timeout)
        message = json.loads(self.socket.recv(), parse_float=Decimal)
        self.received.append(message)
        return message

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("expected message not received in time")
            message = self.next(remaining)
            if predicate(message):
                return message

    def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Every message received during ``seconds``."""
        messages = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                messages.append(self.next(remaining))
            except websocket.WebSocketTimeoutException:
                break
        return messages

    def closed_with(self, timeout: float = 10.0) -> tuple[int, str]:
        """Read on, answering nothing, until the server's close frame; its (code, reason)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.socket.settimeout(remaining)
            frame = self.socket.recv_frame()
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(frame.data[:2], "big"), frame.data[2:].decode()
            if frame.opcode == websocket.ABNF.OPCODE_TEXT:
                self.received.append(json.loads(frame.data, parse_float=Decimal))
        raise AssertionError("no close frame in time")

    def close(self) -> None:
        self.socket.close()


def raw_request(url: str, data: bytes, source: str | None = None, timeout: float = 10.0) -> Reply:
    """Send ``data`` as it is (however malformed) and read the one answer; ``source``: the local
    address to send from (any of 127.0.0.0/8 on loopback), as another client would."""
    parts = urlsplit(url)
    with socket.create_connection(
        (parts.hostname, parts.port), timeout=timeout, source_address=(source, 0) if source else None
    ) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
