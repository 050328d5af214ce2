"""A waitress server on a thread of its own that can be stopped and joined.

waitress is built to own the main thread until the process ends; here the loop runs on our
thread, and stopping closes every socket from inside that loop (waitress is not thread-safe),
then joins the loop thread and waitress's worker threads.
"""

from __future__ import annotations

import threading
from typing import Any

import waitress
from waitress import wasyncore

from candlecast.http.upgrade_listener import WSGIApp


class WaitressThread:
    def __init__(self, app: WSGIApp, host: str, port: int, name: str, threads: int = 4, **options: Any) -> None:
        """`options` are waitress's own settings (ident, max_request_body_size, ...)."""
        self._map: dict[Any, Any] = {}
        # poll(), not waitress's default select(): select() fails on descriptors past 1024, which
        # a process holding a thousand WebSocket clients hands out to new REST connections.
        options.setdefault("asyncore_use_poll", True)
        self._server = waitress.create_server(app, map=self._map, host=host, port=port, threads=threads, **options)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=False)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
            self._thread.join()
        else:
            wasyncore.close_all(self._map)
        self._server.task_dispatcher.shutdown()
