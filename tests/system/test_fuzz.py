"""Random and adversarial input to one running system (simulator upstream), on both ports.

Each round sends REST requests with random methods, paths, parameters, headers and bodies
(some as raw bytes, so the HTTP parser itself meets them), and WebSocket messages (random
text and bytes, invalid UTF-8, deep nesting, huge numbers, fragments, empty continuations),
then checks that ``/health`` answers, that a healthy client's command is answered, that no
answer is a 5xx, and that every HTTP error body is JSON with ``error`` and ``detail``. At the
end the healthy client must have received a candle for every second, with none missing.
Seeded, so a failure replays; bounded in rounds and in time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import websocket

from candlecast.actors.http_server import WAITRESS_BODY_BACKSTOP
from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request
from tests.conftest import make_simulator, settings_for

SEED = 18
ROUNDS = 40
BUDGET_S = 60.0  # rounds stop early past this, so a system that stalls on input still ends the test
SYMBOL = "BTCUSDT"
REPLY_TIMEOUT_S = 3.0
HEALTHY_PACE_S = 0.25
# RFC 6455's codes for bad input, and the ones the README documents for limits.
EXPECTED_CLOSE_CODES = {1002, 1003, 1007, 1008, 1009}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "G_T")
ROUTES = (
    "/",
    "/health",
    "/symbols",
    "/symbols/available",
    "/add_symbol",
    "/remove_symbol/{}",
    "/tick/{}",
    "/ohlc/{}",
    "/candles/{}",
    "/livez",
    "/readyz",
    "/{}",
    "/{}/{}",
    "/ws",
    "/stream",
)
ODD_TEXT = (
    "²",
    "٣",
    "\N{MATHEMATICAL BOLD DIGIT NINE}",
    "-1",
    "0",
    "1e999",
    "NaN",
    "Infinity",
    "9" * 5000,
    "",
    " ",
    "%00",
    "\x00",
    "..",
    "../..",
    "ETHUSDT",
    "ethusdt",
    "SOLUSDT",
    "LUNAUSDT",
    "A" * 300,
    "é",
    "\xed\xa0\x80",
    "null",
    "[]",
    "{}",
    "true",
    "*",
    "🙂" * 20,
)
PARAMS = ("since", "limit", "from", "to", "symbol", "symbols", "channels", "start", "end", "x")
HEADERS = (
    "Content-Type",
    "Accept",
    "Origin",
    "X-Forwarded-For",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Accept-Encoding",
    "Range",
    "Expect",
    "X-" + "a" * 200,
)
BODY_VALUES: tuple[Any, ...] = (
    1e308,
    -1,
    0,
    10**40,
    "²",
    None,
    True,
    [],
    {},
    "BTCUSDT",
    "ethusdt",
    "A" * 5000,
    [["x"]],
    {"symbol": None},
)


def odd(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(ODD_TEXT)
    length = rng.randrange(1, 30)
    return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x3000)))) for _ in range(length))


def nested(rng: random.Random) -> str:
    depth = rng.choice((10, 999, 1000, 1001, 5000, 20_000))
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
    return opener * depth + "1" + closer * depth


def random_path(rng: random.Random) -> str:
    route = rng.choice(ROUTES)
    while "{}" in route:
        segment = odd(rng)
        # Removing the healthy client's symbol would stop its candles by design, not by a fault.
        if segment.strip().upper() == SYMBOL:
            segment = "XBTUSDT"
        route = route.replace("{}", quote(segment, safe="") if rng.random() < 0.8 else segment.replace("/", ""), 1)
    if rng.random() < 0.6:
        pairs = [(rng.choice(PARAMS), odd(rng)) for _ in range(rng.randrange(1, 4))]
        route += "?" + "&".join(f"{quote(k)}={quote(v, safe='') if rng.random() < 0.8 else v}" for k, v in pairs)
    return route


def random_body(rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    if choice == 1:
        return nested(rng).encode()
    if choice == 2:
        return json.dumps({"symbol": rng.choice(BODY_VALUES), rng.choice(PARAMS): rng.choice(BODY_VALUES)}).encode()
    if choice == 3:
        return b'{"symbol": "' + bytes([0xC3, 0x28, 0xFF]) + b'"}'
    if choice == 4:
        return b"x" * rng.choice((4097, 70_000, 1_100_000))
    return odd(rng).encode("utf-8", "surrogatepass")


def raw_request(rng: random.Random, path: str, body: bytes) -> bytes:
    """A request whose framing is itself odd: bad or conflicting lengths, chunking, long lines."""
    method = rng.choice(METHODS)
    headers = ["Host: 127.0.0.1"]
    framing = rng.randrange(6)
    if framing == 0:
        headers.append(f"Content-Length: {rng.choice(('abc', '-1', '1e3', '99999999999999999999', ' 5', '5, 6'))}")
    elif framing == 1:
        headers += [f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"]
    elif framing == 2:
        headers.append("Transfer-Encoding: chunked")
        body = f"{rng.choice(('zz', '-5', 'ffffffffffffffff', '3'))}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    elif framing == 3:
        headers.append("X-Long: " + "a" * rng.choice((8000, 70_000)))
    elif framing == 4:
        headers.append("Bad Header Name: x")
    else:
        headers.append(f"Content-Length: {len(body)}")
    head = f"{method} {path} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\nConnection: close\r\n\r\n"
    return head.encode("utf-8", "surrogatepass") + body


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, read what comes back until the server closes (or ``REPLY_TIMEOUT_S``)."""
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before taking a large body
            sock.sendall(data)
        chunks = []
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def answer_problems(where: str, method: str, *, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """A 5xx, or an error whose body is not JSON with ``error`` and ``detail``."""
    if status >= 500:
        return [f"{where}: {status} {body[:120]!r}"]
    if status < 400 or method == "HEAD":
        return []
    try:
        parsed = json.loads(body)
    except ValueError:
        return [f"{where}: {status} body is not JSON: {headers.get('content-type')} {body[:120]!r}"]
    if not isinstance(parsed, dict) or not {"error", "detail"} <= set(parsed):
        return [f"{where}: {status} body lacks error/detail: {body[:120]!r}"]
    return []


def parse_raw_answer(answer: bytes) -> tuple[int, dict[str, str], bytes] | None:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", ""):
        body = dechunk(body)
    return int(parts[1]), headers, body


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


def fuzz_http(rng: random.Random, ports: dict[str, int]) -> list[str]:
    name = rng.choice(tuple(ports))
    port = ports[name]
    path = random_path(rng)
    body = random_body(rng) if rng.random() < 0.6 else b""
    if rng.random() < 0.35:
        data = raw_request(rng, path, body)
        answer = raw_exchange(port, data)
        parsed = parse_raw_answer(answer)
        if parsed is None:
            return [f"{name} raw {data[:80]!r}: no HTTP answer ({answer[:80]!r})"]
        status, headers, body = parsed
        return answer_problems(
            f"{name} raw {data[:80]!r}", data.split(b" ", 1)[0].decode(), status=status, headers=headers, body=body
        )
    method = rng.choice(METHODS[:7])
    headers = {
        rng.choice(HEADERS): odd(rng).encode("latin-1", "replace").decode("latin-1") for _ in range(rng.randrange(3))
    }
    try:
        url = f"http://127.0.0.1:{port}{path}"
        reply = request(method, url, body=body or None, headers=headers, timeout=REPLY_TIMEOUT_S)
    except (ValueError, http.client.InvalidURL):
        return []  # http.client refused to send it (a control character in the path or a header)
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, ConnectionResetError) and len(body) > WAITRESS_BODY_BACKSTOP:
            # waitress answers 413 as soon as the body passes its limit and closes: a client still
            # sending the rest may see the reset before the answer, as with most servers.
            return []
        return [f"{name} {method} {path[:80]!r} body {len(body)} bytes: no answer ({exc!r})"]
    where = f"{name} {method} {path[:80]!r} body {body[:40]!r}"
    return answer_problems(where, method, status=reply.status, headers=reply.headers, body=reply.body)


def ws_message(rng: random.Random) -> list[tuple[int, bytes, bool]]:  # noqa: PLR0911 (one return per kind)
    """One client message as its frames: (opcode, payload, fin)."""
    text, binary, cont = websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_CONT
    choice = rng.randrange(9)
    if choice == 0:
        return [(text, odd(rng).encode("utf-8", "surrogatepass"), True)]
    if choice == 1:
        return [(binary, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), True)]
    if choice == 2:
        return [(text, nested(rng).encode(), True)]
    if choice == 3:
        value = rng.choice(("1e999", "9" * 5000, "-0", '"²"', '"٣"', "1.5", "[1]", "{}", "null"))
        field = rng.choice(("since", "id", "symbols", "channels", "op"))
        return [(text, f'{{"op":"subscribe","symbols":["btcusdt"],"{field}":{value}}}'.encode(), True)]
    if choice == 4:
        return [(text, bytes([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D]), True)]  # invalid UTF-8 in a text frame
    if choice == 5:
        parts = [b'{"op":', b"", b'"list","id":', b"", b"7}"]
        return [(text, parts[0], False), *((cont, p, False) for p in parts[1:-1]), (cont, parts[-1], True)]
    if choice == 6:
        empties = [(cont, b"", False) for _ in range(rng.randrange(1, 50))]
        return [(text, b'{"op":"li', False), *empties, (cont, b'st"}', True)]
    if choice == 7:
        return [(text, b'{"op":"list"', False), (text, b'{"op":"list"}', True)]  # a new message inside a fragmented one
    return [
        (
            text,
            json.dumps(
                {
                    "op": rng.choice(("subscribe", "unsubscribe", "list", "SUBSCRIBE", "")),
                    "symbols": rng.choice(BODY_VALUES),
                    "channels": rng.choice(BODY_VALUES),
                    "since": rng.choice(BODY_VALUES),
                    "id": rng.choice(BODY_VALUES),
                }
            ).encode(),
            True,
        )
    ]


class FuzzConnection:
    """A WebSocket client that sends what ``ws_message`` makes and reconnects when closed."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._ws: websocket.WebSocket | None = None

    def send(self, frames: list[tuple[int, bytes, bool]]) -> list[str]:
        """Problems: no reply, no documented close, or an answer that is not a JSON object."""
        shown = repr(b"".join(p for _, p, _ in frames)[:80])
        try:
            if self._ws is None:
                self._ws = websocket.create_connection(self._url, timeout=REPLY_TIMEOUT_S, skip_utf8_validation=True)
            ws = self._ws
            for opcode, payload, fin in frames:
                ws.send_frame(websocket.ABNF.create_frame(payload, opcode, fin=int(fin)))
            deadline = time.monotonic() + REPLY_TIMEOUT_S
            while (remaining := deadline - time.monotonic()) > 0:
                ws.settimeout(remaining)
                frame = ws.recv_frame()
                if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close()
                    code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
                    if code in EXPECTED_CLOSE_CODES:
                        return []
                    return [f"ws {shown}: closed with {code} {frame.data[2:]!r}"]
                if frame.opcode != websocket.ABNF.OPCODE_TEXT:
                    continue
                reply = json.loads(frame.data)
                if not isinstance(reply, dict):
                    return [f"ws {shown}: reply is not an object: {frame.data[:80]!r}"]
                if reply.get("type") not in ("candle", "trades", "gap", "recovered", "unrecoverable", "trades_dropped"):
                    return []
        except websocket.WebSocketTimeoutException:
            pass
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            return [f"ws {shown}: connection lost without a close frame ({exc!r})"]
        self.close()  # in an unknown state: the next message starts on a fresh connection
        return [f"ws {shown}: neither a reply nor a close in {REPLY_TIMEOUT_S} s"]

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None


@pytest.fixture
def system() -> Iterator[tuple[Simulator, RunningSystem]]:
    sim = make_simulator(symbols=(SYMBOL, "ETHUSDT"), trades_per_second=10.0, seed=21)
    sim.start()
    try:
        running = start_system(settings_for(sim, symbols=(SYMBOL,)))
        try:
            yield sim, running
        finally:
            running.stop()
    finally:
        sim.stop()


def healthy_problems(client: WsClient, request_id: int) -> list[str]:
    """The healthy client's ``list`` command is answered (candles read meanwhile are kept). It
    sends at most one every ``HEALTHY_PACE_S``, well inside the message rate a client may use."""
    time.sleep(HEALTHY_PACE_S)
    try:
        client.send({"op": "list", "id": request_id})
        client.until(lambda m: m.get("id") == request_id and m["type"] == "subscriptions", timeout=REPLY_TIMEOUT_S)
    except (AssertionError, OSError, ValueError, websocket.WebSocketException) as exc:
        return [f"healthy client's command {request_id} not answered ({exc!r}; '' means a close frame)"]
    return []


def health_problems(running: RunningSystem) -> list[str]:
    try:
        reply = request("GET", running.rest_url + "/health", timeout=REPLY_TIMEOUT_S)
    except OSError as exc:
        return [f"/health did not answer ({exc!r})"]
    return [] if reply.status == 200 else [f"/health answered {reply.status}"]


def missing_seconds(client: WsClient) -> list[str]:
    candles = [m for m in client.received if m["type"] == "candle" and m["symbol"] == SYMBOL]
    seconds = sorted({m["open_time"] // 1000 for m in candles})
    if not seconds:
        return ["the healthy client received no candle"]
    missing = sorted(set(range(seconds[0], seconds[-1] + 1)) - set(seconds))
    stale = time.time() - seconds[-1] > 5
    return [
        *([f"seconds missing for the healthy client: {missing[:10]}"] if missing else []),
        *([f"the healthy client's candles stopped at {seconds[-1]}"] if stale else []),
    ]


def test_random_and_adversarial_input_leaves_the_system_serving(system: tuple[Simulator, RunningSystem]) -> None:
    _, running = system
    ports = {"rest": int(running.rest_url.rsplit(":", 1)[1]), "ws": int(running.ws_url.rsplit(":", 1)[1])}
    rng = random.Random(SEED)
    healthy = WsClient(running.ws_url + f"/?symbols={SYMBOL}")
    fuzz = FuzzConnection(running.ws_url)
    problems: list[str] = []
    try:
        healthy.until(lambda m: m["type"] == "candle", timeout=10)
        deadline = time.monotonic() + BUDGET_S
        for round_number in range(1, ROUNDS + 1):
            if time.monotonic() > deadline:
                problems.append(f"only {round_number - 1} of {ROUNDS} rounds in {BUDGET_S} s: answers are slow")
                break
            for _ in range(3):
                problems += fuzz_http(rng, ports)
            for _ in range(2):
                problems += fuzz.send(ws_message(rng))
            problems += health_problems(running)
            if healthy.socket.connected:
                problems += healthy_problems(healthy, round_number)
        if healthy.socket.connected:
            with contextlib.suppress(OSError, ValueError, websocket.WebSocketException):
                healthy.collect(1.5)
        else:
            problems.append("the healthy client was disconnected")
        problems += missing_seconds(healthy)
    finally:
        fuzz.close()
        healthy.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
