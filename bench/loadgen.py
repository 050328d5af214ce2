"""A lean Binance stand-in for load: trade frames at a set rate, as fast as Python can write them.

The simulator models the exchange faithfully but is not built to push 100,000 trades/s; this
process only speaks what ingest needs: ``/api/v3/exchangeInfo`` and ``/api/v3/time`` over
HTTP, and combined streams with SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS replies. Every
symbol's trades carry consecutive ids and the current time, so the receiving side sees a
healthy market. It runs in a process of its own, started by ``bench.ingest``.
"""

from __future__ import annotations

import json
import multiprocessing
import select
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qs, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

TICK_S = 0.01
# A connection the gateway stopped reading gets at most this much of its rate at once when it
# reads again; the rest is never made. Trades are stamped when they are made, and a backlog
# made in one go after a long wait is seconds stale by the time it is written: a late
# exchange, not a burst, and the gateway rightly revises candles for it.
MAX_OWED_S = 0.1
FRAME = (
    '{{"stream":"{stream}","data":{{"e":"trade","E":{now},"s":"{symbol}","t":{id},'
    '"p":"{price}","q":"0.01000000","T":{now},"m":{maker},"M":true}}}}'
)


def text_frame(payload: bytes) -> bytes:
    """A server's final, unmasked text frame (RFC 6455 section 5.2). Framing each trade through
    wsproto cost more CPU than the gateway spends on it, on the cores the gateway runs on."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def symbols_for(count: int) -> list[str]:
    return [f"L{index:04d}USDT" for index in range(count)]


class _Rest(BaseHTTPRequestHandler):
    symbols: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/api/v3/exchangeInfo"):
            body: Any = {"symbols": [{"symbol": s, "status": "TRADING"} for s in self.symbols]}
        elif self.path.startswith("/api/v3/time"):
            body = {"serverTime": time.time_ns() // 1_000_000}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


class _Stream:
    """One upstream connection: its streams, and trades written at its share of the rate."""

    def __init__(
        self, *, sock: socket.socket, rate: Any, sent: Any, total_symbols: int, next_ids: dict[str, int]
    ) -> None:
        self._sock = sock
        self._rate = rate
        self._sent = sent
        self._total = total_symbols
        self._next_ids = next_ids
        self._ws = WSConnection(ConnectionType.SERVER)
        self._streams: list[str] = []
        self._turn = 0  # the stream the next trade goes to: every stream trades at the same rate
        self._owed = 0.0
        self._last_write = time.monotonic()
        self._partial = ""

    def serve(self) -> None:
        try:
            while self._handle_incoming() and self._write_due():
                pass
        except OSError:
            pass
        finally:
            self._sock.close()

    def _handle_incoming(self) -> bool:
        readable, _, _ = select.select([self._sock], [], [], TICK_S)
        if not readable:
            return True
        data = self._sock.recv(65536)
        if not data:
            return False
        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, Request):
                query = parse_qs(urlsplit(event.target).query)
                self._streams = [s for s in query.get("streams", [""])[0].split("/") if s]
                self._sock.sendall(self._ws.send(AcceptConnection()))
            elif isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    text, self._partial = self._partial, ""
                    self._answer(json.loads(text))
            elif isinstance(event, CloseConnection):
                return False
        return True

    def _answer(self, request: dict[str, Any]) -> None:
        method, params = request.get("method"), request.get("params") or []
        if method == "SUBSCRIBE":
            self._streams += [p for p in params if p not in self._streams]
        elif method == "UNSUBSCRIBE":
            self._streams = [s for s in self._streams if s not in params]
        result = list(self._streams) if method == "LIST_SUBSCRIPTIONS" else None
        self._sock.sendall(self._ws.send(Message(data=json.dumps({"result": result, "id": request.get("id")}))))

    def _write_due(self) -> bool:
        now_s = time.monotonic()
        elapsed, self._last_write = now_s - self._last_write, now_s
        if not self._streams:
            return True
        share = self._rate.value * len(self._streams) / self._total
        self._owed = min(self._owed + share * elapsed, share * MAX_OWED_S)
        count, self._owed = int(self._owed), self._owed - int(self._owed)
        if not count:
            return True
        now = time.time_ns() // 1_000_000
        frames = []
        for index in range(count):
            stream = self._streams[(self._turn + index) % len(self._streams)]
            symbol = stream.split("@")[0].upper()
            trade_id = self._next_ids.get(symbol, 1)
            self._next_ids[symbol] = trade_id + 1
            text = FRAME.format(
                stream=stream,
                now=now,
                symbol=symbol,
                id=trade_id,
                price=f"{100 + trade_id % 100}.00000000",
                maker="true" if index % 2 else "false",
            )
            frames.append(text_frame(text.encode()))
        self._turn = (self._turn + count) % len(self._streams)
        self._sock.sendall(b"".join(frames))
        with self._sent.get_lock():
            self._sent.value += count
        return True


def run(*, rest_port: Any, stream_port: Any, rate: Any, sent: Any, symbols: int) -> None:
    _Rest.symbols = symbols_for(symbols)
    rest = ThreadingHTTPServer(("127.0.0.1", 0), _Rest)
    rest.daemon_threads = True
    threading.Thread(target=rest.serve_forever, daemon=True).start()
    listener = socket.create_server(("127.0.0.1", 0))
    rest_port.value, stream_port.value = rest.server_address[1], listener.getsockname()[1]
    next_ids: dict[str, int] = {}
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(
            target=_Stream(sock=sock, rate=rate, sent=sent, total_symbols=symbols, next_ids=next_ids).serve, daemon=True
        ).start()


class LoadGenerator(NamedTuple):
    """Set ``rate.value`` (trades/s) to drive it; ``sent.value`` counts the trades written."""

    process: multiprocessing.Process
    rate: Any
    sent: Any
    rest_url: str
    stream_url: str


def start(symbols: int) -> LoadGenerator:
    rest_port, stream_port = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    rate, sent = multiprocessing.Value("d", 0.0), multiprocessing.Value("q", 0)
    process = multiprocessing.Process(
        target=run,
        kwargs={"rest_port": rest_port, "stream_port": stream_port, "rate": rate, "sent": sent, "symbols": symbols},
        daemon=True,
    )
    process.start()
    deadline = time.monotonic() + 10
    while not stream_port.value:
        if time.monotonic() > deadline:
            raise RuntimeError("load generator did not start")
        time.sleep(0.05)
    return LoadGenerator(
        process, rate, sent, f"http://127.0.0.1:{rest_port.value}", f"ws://127.0.0.1:{stream_port.value}"
    )
