"""A real HTTP server on loopback standing between the system and the simulator's REST API:
it passes every GET on, except on the paths where a test has told it what to answer instead
(an odd ``Retry-After``, a malformed or altered exchangeInfo), and notes when each request came."""

from __future__ import annotations

import collections
import http.server
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

EXCHANGE_INFO = "/api/v3/exchangeInfo"


class Canned(NamedTuple):
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


# The body to send instead of the upstream's own 200 answer.
Rewrite = Callable[[bytes], bytes]


class RestStub:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._canned: dict[str, collections.deque[Canned]] = {}
        self._rewrites: dict[str, Rewrite] = {}
        self._seen: dict[str, list[float]] = collections.defaultdict(list)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest-stub")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RestStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, path: str, canned: Canned, count: int = 1) -> None:
        """The next ``count`` requests to ``path`` get ``canned`` instead of the upstream's answer."""
        with self._lock:
            self._canned.setdefault(path, collections.deque()).extend([canned] * count)

    def rewrite(self, path: str, rewrite: Rewrite | None) -> None:
        """From now on the upstream's 200 answers to ``path`` go out as ``rewrite`` makes them (None: as they are)."""
        with self._lock:
            if rewrite is None:
                self._rewrites.pop(path, None)
            else:
                self._rewrites[path] = rewrite

    def requests(self, path: str) -> list[float]:
        """When (monotonic s) each request to ``path`` came."""
        with self._lock:
            return list(self._seen[path])

    def pending(self, path: str) -> int:
        """Canned answers to ``path`` not given yet."""
        with self._lock:
            return len(self._canned.get(path, ()))

    def _respond(self, target: str) -> Canned:
        path = urlsplit(target).path
        with self._lock:
            self._seen[path].append(time.monotonic())
            queued = self._canned.get(path)
            if queued:
                return queued.popleft()
            rewrite = self._rewrites.get(path)
        try:
            with urllib.request.urlopen(self._upstream + target, timeout=5) as response:
                body = response.read()
                headers = tuple((k, v) for k, v in response.headers.items() if k.lower().startswith("x-mbx"))
                return Canned(response.status, rewrite(body) if rewrite else body, headers)
        except urllib.error.HTTPError as exc:
            headers = tuple((k, v) for k, v in exc.headers.items() if k.lower() in ("retry-after",))
            return Canned(exc.code, exc.read(), headers)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canned = stub._respond(self.path)
                self.send_response(canned.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(canned.body)))
                for name, value in canned.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(canned.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
