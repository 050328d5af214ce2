"""The thread that owns one upstream WebSocket: connect, read, parse, reconnect, forever.

It parses frames off the connection actor's mailbox thread and tells each symbol's aggregator
a batch of the trades that were already waiting in the socket, so a busy stream costs one
message per batch rather than per trade. It only ever tells: its actor (state, replies,
rejected frames) and the aggregators named in ``routes``.
"""

from __future__ import annotations

import select
import ssl
import threading
import time
from types import MappingProxyType
from typing import Any, Mapping

import pykka
import structlog
import websocket

from candlecast import binance
from candlecast.backoff import full_jitter
from candlecast.messages import (
    FrameRejected,
    Trade,
    TradeBatch,
    UpstreamConnected,
    UpstreamDisconnected,
)

CONNECT_TIMEOUT_S = 3.0
MAX_BATCH_FRAMES = 1000
# Binance pings every 20 s, so a socket silent for this long is dead even if no trade is due.
SILENCE_LIMIT_S = 60.0
STABLE_CONNECTION_S = 30.0


class UpstreamClosed(Exception):
    """The server sent a close frame."""


def _has_pending_data(sock: Any) -> bool:
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class UpstreamReader(threading.Thread):
    def __init__(self, connection: Any, connection_id: int, stream_url: str, reconnect_cap_s: float) -> None:
        super().__init__(name=f"upstream-{connection_id}", daemon=False)
        # Replaced (never mutated) by the connection actor whenever its symbol set changes.
        self.routes: Mapping[str, Any] = MappingProxyType({})
        self._connection = connection
        self._stream_url = stream_url
        self._reconnect_cap_s = reconnect_cap_s
        self._stopped = threading.Event()
        self._socket: websocket.WebSocket | None = None
        self._log = structlog.get_logger(__name__).bind(connection=connection_id)

    def stop(self) -> None:
        self._stopped.set()
        sock = self._socket
        if sock is not None:
            sock.abort()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            symbols = frozenset(self.routes)
            url = binance.combined_stream_url(self._stream_url, symbols)
            try:
                sock = websocket.create_connection(
                    url, timeout=CONNECT_TIMEOUT_S, skip_utf8_validation=True, enable_multithread=True
                )
            except (websocket.WebSocketException, OSError) as exc:
                self._wait_to_retry(failures, f"connect failed: {exc}")
                failures += 1
                continue
            self._socket = sock
            sock.settimeout(SILENCE_LIMIT_S)
            connected_at = time.monotonic()
            self._log.info("upstream connected", url=url, streams=len(symbols))
            self._connection.tell(UpstreamConnected(socket=sock, symbols=symbols))
            reason = self._read(sock)
            self._socket = None
            sock.abort()
            sock.close()
            if self._stopped.is_set():
                return
            if time.monotonic() - connected_at > STABLE_CONNECTION_S:
                failures = 0
            self._wait_to_retry(failures, f"disconnected: {reason}")
            failures += 1

    def _wait_to_retry(self, failures: int, reason: str) -> None:
        if self._stopped.is_set():
            return
        self._connection.tell(UpstreamDisconnected(reason=reason))
        delay = full_jitter(failures, 0.5, self._reconnect_cap_s)
        self._log.warning("upstream unavailable, retrying", reason=reason, retry_in_s=round(delay, 2))
        self._stopped.wait(delay)

    def _read(self, sock: websocket.WebSocket) -> str:
        """Read until the connection fails; returns why."""
        try:
            while not self._stopped.is_set():
                batches: dict[str, list[Trade]] = {}
                self._absorb(self._next_payload(sock), batches)
                frames = 1
                while frames < MAX_BATCH_FRAMES and _has_pending_data(sock.sock):
                    self._absorb(self._next_payload(sock), batches)
                    frames += 1
                self._deliver(batches)
        except websocket.WebSocketTimeoutException:
            return f"no frame for {SILENCE_LIMIT_S:.0f} s"
        except (websocket.WebSocketException, UpstreamClosed, OSError, ValueError) as exc:
            return str(exc) or type(exc).__name__
        return "stopped"

    @staticmethod
    def _next_payload(sock: websocket.WebSocket) -> bytes | str:
        opcode, payload = sock.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise UpstreamClosed("server closed the connection")
        return payload

    def _absorb(self, payload: bytes | str, batches: dict[str, list[Trade]]) -> None:
        try:
            item = binance.parse_frame(payload)
        except binance.MalformedFrame as exc:
            self._connection.tell(FrameRejected(reason=str(exc)[:200]))
            return
        if isinstance(item, Trade):
            batches.setdefault(item.symbol, []).append(item)
        elif isinstance(item, binance.ControlReply):
            self._connection.tell(item)

    def _deliver(self, batches: dict[str, list[Trade]]) -> None:
        routes = self.routes
        for symbol, trades in batches.items():
            aggregator = routes.get(symbol)
            if aggregator is None:
                continue
            try:
                aggregator.tell(TradeBatch(symbol=symbol, trades=tuple(trades)))
            except pykka.ActorDeadError:
                continue
