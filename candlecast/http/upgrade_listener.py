"""A listener that turns each request into a WSGI call while keeping the raw socket reachable.

waitress cannot hand a socket to a WebSocket library, so WebSocket ports use this instead:
it parses the request line and headers, builds a WSGI environ with the socket under
``werkzeug.socket`` (where simple-websocket looks for it) and calls a WSGI app. An app that
takes over the socket marks the environ with ``UPGRADED_KEY``; otherwise its response is
written back as plain HTTP, so routing, errors and limits stay the app's business.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import queue
import socket
import socketserver
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterable
from urllib.parse import unquote

import structlog

UPGRADED_KEY = "candlecast.upgraded"
SOCKET_KEY = "werkzeug.socket"

log = structlog.get_logger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The answer to an address over its share of the request threads, written without reading its
# request (reading is what it would hold a thread for).
_BUSY_BODY = b'{"error":"too many requests","detail":"too many requests from this address are in progress; retry"}'
BUSY_RESPONSE = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)
READ_BEFORE_REFUSAL_CLOSE = 1 << 16


class _ReadsByDeadline(socket.SocketIO):
    """A socket's reads sharing one deadline. A socket timeout bounds each read alone, so a
    client sending its request a byte at a time, each in time, would hold the connection and
    its thread for as long as it liked."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__(sock, "rb")
        self._deadline = deadline

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete in time")
        self._sock.settimeout(left)
        return super().readinto(buffer)


class _WSGIRequestHandler(BaseHTTPRequestHandler):
    rbufsize = 0  # the reader setup makes is replaced by one that keeps the deadline
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        # A client that connects and sends no complete request in time loses its connection.
        self.timeout = self.server.handshake_timeout_s
        super().setup()
        self.rfile.close()
        # Buffered (unbuffered, readline costs a system call per byte). Nothing is swallowed:
        # a WebSocket client sends nothing after its upgrade request until it has the server's
        # answer (RFC 6455, 4.1), so the buffer is empty when the socket is handed on.
        self.rfile = io.BufferedReader(_ReadsByDeadline(self.connection, time.monotonic() + self.timeout))

    def _call_app(self) -> None:
        self.close_connection = True
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": self.headers.get("Content-Length", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            SOCKET_KEY: self.connection,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            response["status"] = status
            response["headers"] = headers

        body = b"".join(self.server.app(environ, start_response))
        if environ.get(UPGRADED_KEY):
            return
        code, _, reason = response["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in response["headers"]:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _call_app

    def log_message(self, format: str, *args: Any) -> None:
        """Request logging belongs to the app's middleware, not to stderr."""


class _Server(socketserver.TCPServer):
    """Requests run on a pool of reused threads. A thread started per connection held the
    accept loop until the new thread first ran, which on a busy server was milliseconds:
    10,000 clients reconnecting took 33-41 s to get through, against 14 s now.

    One address may have at most ``per_address`` requests in progress (queued or served): a
    client sending requests slowly holds a thread each up to the handshake timeout, and one
    address holding every thread would stall everyone's upgrades. Beyond that it is answered
    429 at once. The accept thread owns the count; request threads tell it, over a queue, which
    address finished."""

    allow_reuse_address = True
    request_queue_size = 1024  # thousands of clients may reconnect at once

    def __init__(
        self, address: tuple[str, int], app: WSGIApp, handshake_timeout_s: float, threads: int, per_address: int,
        name: str, on_refused: Callable[[str], None],
    ) -> None:
        self.app = app
        self._on_refused = on_refused
        self.handshake_timeout_s = handshake_timeout_s
        self._requests = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"{name}-request")
        self._per_address = per_address
        self._in_progress: Counter[str] = Counter()
        self._finished: queue.SimpleQueue[str] = queue.SimpleQueue()
        super().__init__(address, _WSGIRequestHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        while not self._finished.empty():
            done = self._finished.get()
            self._in_progress[done] -= 1
            if not self._in_progress[done]:
                del self._in_progress[done]
        peer = client_address[0]
        if self._in_progress[peer] >= self._per_address:
            log.info("request refused: too many in progress from its address", peer=peer, limit=self._per_address)
            self._on_refused(peer)
            with contextlib.suppress(OSError):  # a full buffer or a client already gone: just close
                request.send(BUSY_RESPONSE, socket.MSG_DONTWAIT)
                # What already arrived is read, not to reset the connection (and lose the answer)
                # by closing with unread data.
                request.recv(READ_BEFORE_REFUSAL_CLOSE, socket.MSG_DONTWAIT)
            return False
        self._in_progress[peer] += 1
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        self._requests.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._finished.put(client_address[0])

    def server_close(self) -> None:
        super().server_close()
        self._requests.shutdown(wait=True)

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """A client that vanishes mid-request is a normal event: one line, no traceback."""
        error = sys.exc_info()[1]
        log.info("request ended early", peer=client_address[0], error=repr(error))


class UpgradeListener:
    """Owns the listening socket, its accept thread and the ``threads`` that serve requests;
    a request that finds them all busy waits for one, unless its address already has
    ``per_address`` in progress: then it is refused, and ``on_refused`` told its address (on the
    accept thread, so it must not block). ``close`` joins them."""

    def __init__(
        self, app: WSGIApp, host: str, port: int, name: str, handshake_timeout_s: float, threads: int, per_address: int,
        on_refused: Callable[[str], None] = lambda peer: None,
    ) -> None:
        self._server = _Server((host, port), app, handshake_timeout_s, threads, per_address, name, on_refused)
        # A short poll interval keeps shutdown quick; the cost is a wakeup every 50 ms.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=False
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop_accepting(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()

    def close(self) -> None:
        """Wait for in-flight requests and handshakes to end, then release the port."""
        self._server.server_close()
