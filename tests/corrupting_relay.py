"""A WebSocket server on loopback between the system and the simulator's streams: it relays
every frame both ways and, when told, replaces fields of the next trade frames of a symbol,
as a feed garbled on its way from the exchange would look. The simulator's record and REST
keep the true trades."""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
from typing import Any

import websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

POLL_S = 0.2


class CorruptingRelay:
    def __init__(self, upstream_url: str) -> None:
        self._upstream_url = upstream_url.rstrip("/")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_S)
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._pending: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self.corrupted: list[int] = []  # ids of the trades sent corrupted, in order
        self.connections = 0
        self._threads = [threading.Thread(target=self._accept, name="relay-accept")]

    def start(self) -> None:
        self._threads[0].start()

    def stop(self) -> None:
        self._stopped.set()
        self._threads[0].join()  # no connection is accepted after this
        for thread in self._threads[1:]:
            thread.join()
        self._listener.close()

    def corrupt(self, symbol: str, count: int = 1, **fields: Any) -> None:
        """Replace ``fields`` (Binance's names: p, q, T, s...) in the next ``count`` trade frames of
        ``symbol``; a callable value is applied to the true one."""
        with self._lock:
            self._pending.extend((symbol, fields) for _ in range(count))

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(client,), name=f"relay-{self.connections}")
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(POLL_S)
        server = WSConnection(ConnectionType.SERVER)
        send_lock = threading.Lock()
        upstream: websocket.WebSocket | None = None
        try:
            while upstream is None and not self._stopped.is_set():
                data = _receive(client)
                if data is None:
                    continue
                server.receive_data(data or None)
                for event in server.events():
                    if isinstance(event, Request):
                        client.sendall(server.send(AcceptConnection()))
                        upstream = websocket.create_connection(self._upstream_url + event.target, timeout=POLL_S)
            if upstream is None:
                return
            down = threading.Thread(target=self._down, args=(upstream, client, server, send_lock), name="relay-down")
            down.start()
            try:
                self._up(client, server, upstream, send_lock)
            finally:
                upstream.abort()
                down.join()
                upstream.close()
        except OSError:
            pass
        finally:
            client.close()

    def _up(
        self, client: socket.socket, server: WSConnection, upstream: websocket.WebSocket, send_lock: threading.Lock
    ) -> None:
        """Requests from the system go to the simulator, until either side closes."""
        while not self._stopped.is_set() and upstream.connected:
            data = _receive(client)
            if data is None:
                continue
            with send_lock:
                server.receive_data(data or None)
                events = list(server.events())
            for event in events:
                if isinstance(event, TextMessage):
                    upstream.send(event.data)
                elif isinstance(event, Ping):
                    with send_lock:
                        client.sendall(server.send(event.response()))
                elif isinstance(event, CloseConnection):
                    return
            if not data:
                return

    def _down(
        self, upstream: websocket.WebSocket, client: socket.socket, server: WSConnection, send_lock: threading.Lock
    ) -> None:
        """Frames from the simulator go to the system, the chosen trades changed on the way."""
        try:
            while not self._stopped.is_set():
                try:
                    text = upstream.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                if not text:
                    return
                with send_lock:
                    client.sendall(server.send(TextMessage(data=self._changed(text))))
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):  # the system closed it first
                client.shutdown(socket.SHUT_RDWR)

    def _changed(self, text: str) -> str:
        if not self._pending or "@trade" not in text:
            return text
        frame = json.loads(text)
        data = frame.get("data", {})
        with self._lock:
            if not self._pending or self._pending[0][0] != data.get("s"):
                return text
            _, fields = self._pending.popleft()
            self.corrupted.append(data["t"])
        for name, value in fields.items():
            data[name] = value(data[name]) if callable(value) else value
        return json.dumps(frame)


def _receive(client: socket.socket) -> bytes | None:
    """What arrived (b"" once the peer closed); None if nothing did for a while."""
    try:
        return client.recv(65536)
    except TimeoutError:
        return None
