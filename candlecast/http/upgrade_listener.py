"""A listener that turns each request into a WSGI call while keeping the raw socket reachable.

waitress cannot hand a socket to a WebSocket library, so the WebSocket port uses this: it parses
the request, builds a WSGI environ with the socket under ``werkzeug.socket`` and calls the app.
An app that takes the socket over marks the environ with ``UPGRADED_KEY``; otherwise its answer
goes back as plain HTTP, so routing, errors and limits stay the app's.
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
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog

from candlecast.http.errors import answer_refusal, error_body, raw_error_response, status_title
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.threads import ServingThread

UPGRADED_KEY = "candlecast.upgraded"
SOCKET_KEY = "werkzeug.socket"

log = structlog.get_logger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The answers to an address over its share of requests in progress, and to anyone when the
# listener has as many in progress as it takes.
ADDRESS_BUSY_RESPONSE = raw_error_response(
    HTTPStatus.TOO_MANY_REQUESTS, "too many requests from this address are in progress; retry", retry_after_s=1
)
LISTENER_BUSY_RESPONSE = raw_error_response(
    HTTPStatus.SERVICE_UNAVAILABLE, "too many requests are in progress; retry", retry_after_s=1
)


class _ReadsByDeadline(socket.SocketIO):
    """A socket's reads sharing one deadline. A socket timeout bounds each read alone, so a
    client sending its request a byte at a time, each in time, would hold the connection and
    its thread for as long as it liked."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__(sock, "rb")
        self._socket = sock
        self._deadline = deadline

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete in time")
        self._socket.settimeout(left)
        return super().readinto(buffer)


class _WSGIRequestHandler(BaseHTTPRequestHandler):
    rbufsize = 0  # the reader setup makes is replaced by one that keeps the deadline
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        # A client that connects and sends no complete request in time loses its connection.
        self.timeout = self.server.handshake_timeout_s  # type: ignore[misc]  # read per instance; typeshed says class
        super().setup()
        self.rfile.close()
        # Buffered (unbuffered, readline costs a system call per byte). Nothing is swallowed:
        # a WebSocket client sends nothing after its upgrade request until it has the server's
        # answer (RFC 6455, 4.1), so the buffer is empty when the socket is handed on.
        self.rfile = io.BufferedReader(_ReadsByDeadline(self.connection, time.monotonic() + self.timeout))

    def __getattr__(self, name: str) -> Any:
        """Every method goes to the app (``do_<METHOD>``), which answers one it does not serve
        with a 4xx; the standard library would answer 501."""
        if name.startswith("do_"):
            return self._call_app
        raise AttributeError(name)

    def _call_app(self) -> None:
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # no status line would go back: refuse in HTTP/1.1
            self.send_error(HTTPStatus.BAD_REQUEST, "requests must name their HTTP version (HTTP/1.0 or 1.1)")
            return
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # PEP 3333: the raw bytes, percent-decoded, as latin-1 (the request line was read as latin-1).
            "PATH_INFO": unquote_to_bytes(path.encode("latin-1")).decode("latin-1"),
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
        self.server.calling_app(self.request, environ)
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            response["status"] = status
            response["headers"] = headers

        try:
            body = b"".join(self.server.app(environ, start_response))
        except Exception:
            log.exception("request failed", peer=self.client_address[0], method=self.command)
            if not environ.get(UPGRADED_KEY):  # else the socket is no longer this request's
                status = HTTPStatus.INTERNAL_SERVER_ERROR
                self._answer(
                    status.value,
                    status.phrase,
                    [("Content-Type", "application/json")],
                    error_body("Internal error", "the request could not be answered"),
                )
            return
        if environ.get(UPGRADED_KEY):
            return
        code, _, reason = response["status"].partition(" ")
        self._answer(int(code), reason, response["headers"], body)

    def _answer(self, code: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(code, reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's answers to a request it cannot parse (a malformed request line
        or header, one too long, an HTTP version it does not speak), as JSON and always a 4xx:
        each is the client's fault."""
        self.close_connection = True
        # A request line it could not read leaves the version at HTTP/0.9, whose answers have no
        # status line: the client would see a bare body.
        self.request_version = self.protocol_version
        status = HTTPStatus(code) if code < 500 else HTTPStatus.BAD_REQUEST
        self._answer(
            status.value,
            status.phrase,
            [("Content-Type", "application/json")],
            error_body(status_title(status.phrase), message or status.description),
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Request logging belongs to the app's middleware, not to stderr."""


class _Server(socketserver.TCPServer):
    """Requests run on a pool of reused threads. A thread started per connection held the
    accept loop until the new thread first ran, which on a busy server was milliseconds.

    One address may have at most ``per_address`` requests in progress (queued or served): a
    client sending requests slowly holds a thread each up to the handshake timeout, and one
    address holding every thread would stall everyone's upgrades. Beyond that it is answered
    429 at once; beyond ``max_pending`` in all, anyone is answered 503. The accept thread owns
    the counts; request threads tell it, over a queue, which address finished.

    Closing shuts down the socket of every request the app has not taken over (upgraded), so a
    request still arriving ends at once instead of holding the close for the rest of its
    handshake timeout; ending an upgraded connection is the app's business."""

    allow_reuse_address = True
    request_queue_size = 1024  # thousands of clients may reconnect at once

    def __init__(
        self,
        *,
        address: tuple[str, int],
        app: WSGIApp,
        handshake_timeout_s: float,
        threads: int,
        per_address: int,
        max_pending: int | None,
        name: str,
        on_refused: Callable[[str], object],
    ) -> None:
        self.app = app
        self._on_refused = on_refused
        self.handshake_timeout_s = handshake_timeout_s
        self._requests = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"{name}-request")
        self._per_address = per_address
        self._max_pending = max_pending
        self._in_progress: Counter[str] = Counter()
        self._pending = 0
        self._finished: queue.SimpleQueue[str] = queue.SimpleQueue()
        # Request sockets not yet closed, with their environ once the app has it, for close() to
        # shut down; request threads remove theirs.
        self._open_requests: dict[socket.socket, dict[str, Any]] = {}
        self._open_requests_lock = threading.Lock()
        super().__init__(address, _WSGIRequestHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        while not self._finished.empty():
            done = self._finished.get()
            self._pending -= 1
            self._in_progress[done] -= 1
            if not self._in_progress[done]:
                del self._in_progress[done]
        peer = client_address[0]
        if self._in_progress[peer] >= self._per_address:
            self._refuse(request, peer, ADDRESS_BUSY_RESPONSE, where="from its address", limit=self._per_address)
            return False
        if self._max_pending is not None and self._pending >= self._max_pending:
            self._refuse(request, peer, LISTENER_BUSY_RESPONSE, where="in all", limit=self._max_pending)
            return False
        self._in_progress[peer] += 1
        self._pending += 1
        return True

    def _refuse(self, request: socket.socket, peer: str, response: bytes, *, where: str, limit: int) -> None:
        log.info(f"request refused: too many in progress {where}", peer=peer, limit=limit)
        self._on_refused(peer)
        answer_refusal(request, response)  # the socketserver closes it

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_requests_lock:
            self._open_requests[request] = {}
        self._requests.submit(self._serve, request, client_address)

    def calling_app(self, request: socket.socket, environ: dict[str, Any]) -> None:
        with self._open_requests_lock:
            self._open_requests[request] = environ

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._open_requests_lock:
                del self._open_requests[request]
            self.shutdown_request(request)
            self._finished.put(client_address[0])

    def server_close(self) -> None:
        super().server_close()
        # Under the lock, so no socket is closed (and its descriptor reused) while shut down here.
        with self._open_requests_lock:
            for request, environ in self._open_requests.items():
                if not environ.get(UPGRADED_KEY):
                    with contextlib.suppress(OSError):  # already detached for an upgrade, or gone
                        request.shutdown(socket.SHUT_RDWR)
        self._requests.shutdown(wait=True)

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """A client that vanishes mid-request is a normal event: one line, no traceback."""
        error = sys.exc_info()[1]
        log.info("request ended early", peer=client_address[0], error=repr(error))


class UpgradeListener:
    """Owns the listening socket, its accept thread and the ``threads`` that serve requests;
    a request that finds them all busy waits for one, unless its address already has
    ``per_address`` in progress, or ``max_pending`` (None: no bound) are in progress in all:
    then it is refused, and ``on_refused`` told its address (on the accept thread, so it must
    not block). ``close`` ends the requests still in progress that the app has not taken over,
    and joins their threads."""

    def __init__(
        self,
        *,
        app: WSGIApp,
        host: str,
        port: int,
        name: str,
        handshake_timeout_s: float,
        threads: int,
        per_address: int,
        on_refused: Callable[[str], object] = lambda peer: None,
        max_pending: int | None = None,
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        self._server = _Server(
            address=(host, port),
            app=app,
            handshake_timeout_s=handshake_timeout_s,
            threads=threads,
            per_address=per_address,
            max_pending=max_pending,
            name=name,
            on_refused=on_refused,
        )
        self._name = name
        self._on_ended = on_ended
        self.thread = self.new_thread()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def new_thread(self) -> ServingThread:
        """A thread to run the accept loop, not started, that ``stop_accepting`` will end."""
        # A short poll interval keeps shutdown quick; the cost is a wakeup every 50 ms.
        self.thread = ServingThread(self._name, lambda: self._server.serve_forever(poll_interval=0.05), self._on_ended)
        return self.thread

    def start(self) -> None:
        self.thread.start()

    def stop_accepting(self) -> None:
        self.thread.stopped.set()
        if self.thread.is_alive():
            self._server.shutdown()
            self.thread.join()

    def close(self) -> None:
        """End the requests and handshakes in progress (not upgraded connections: the app ends
        those), wait for their threads, release the port."""
        self._server.server_close()
