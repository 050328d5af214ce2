"""A REST server on loopback that answers ``/api/v3/time`` as a test says, and passes every
other request on to the simulator: an exchange whose clock is wrong, moves, or answers garbage."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

PASSED_HEADERS = ("Content-Type", "Retry-After", "X-MBX-USED-WEIGHT-1M")


def true_time(shift_ms: int = 0) -> Callable[[], bytes]:
    """An ``/api/v3/time`` answer: the local wall clock moved by ``shift_ms``."""
    return lambda: b'{"serverTime": %d}' % (time.time_ns() // 1_000_000 + shift_ms)


class TimeServer:
    def __init__(self, upstream_url: str) -> None:
        """``upstream_url``: the simulator's REST base, for every other path."""
        self.answer: Callable[[], bytes] = true_time()  # replaced by the test as it goes
        self.time_requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/api/v3/time"):
                    server.time_requests += 1
                    self._reply(200, {"Content-Type": "application/json"}, server.answer())
                    return
                try:
                    with urllib.request.urlopen(upstream_url + self.path, timeout=5) as response:
                        self._reply(response.status, response.headers, response.read())
                except urllib.error.HTTPError as error:
                    self._reply(error.code, error.headers, error.read())

            def _reply(self, status: int, headers: object, body: bytes) -> None:
                self.send_response(status)
                for name in PASSED_HEADERS:
                    value = headers.get(name)  # type: ignore[attr-defined]
                    if value is not None:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="time-server")

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> TimeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
