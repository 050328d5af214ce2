"""Random and malformed HTTP requests against a running system, on both ports (the WebSocket
port serves the same app through its own listener): paths with any bytes and percent-encodings,
odd methods, query parameters, headers and bodies. Whatever arrives, the answer is an HTTP
status below 500, and every error's body is JSON with "error" and "detail"."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import request, wait_for
from tests.conftest import settings_for

ROUTES = [
    b"/",
    b"/health",
    b"/symbols",
    b"/symbols/available",
    b"/add_symbol",
    b"/remove_symbol/",
    b"/tick/",
    b"/ohlc/",
    b"/candles/",
    b"/ws",
]
# Anything but the line ends that frame a request; a space splits the request line.
LINE_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
TOKEN = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~", min_size=1, max_size=12
)
METHODS = st.one_of(st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]), TOKEN)
PATH_TAIL = st.one_of(
    LINE_BYTES,
    LINE_BYTES.map(lambda b: quote_from_bytes(b).encode()),
    st.text(max_size=10).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"BTCUSDT", b"btcusdt", b"%", b"%zz", b"%C3", b"%FF%FE", b"%00", b"..", b"//", b"A" * 300]),
)
QUERY = st.lists(
    st.tuples(st.one_of(st.sampled_from([b"limit", b"since", b"symbols", b"channels"]), LINE_BYTES), LINE_BYTES),
    max_size=4,
).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs))
HEADER_VALUE = st.one_of(
    LINE_BYTES,
    st.sampled_from(
        [
            b"",
            b"-1",
            b"abc",
            b"websocket",
            b"Upgrade",
            b"100-continue",
            b"application/json",
            b"\xff\xfe",
            b"13",
            b"x" * 9000,
        ]
    ),
)
# The body's framing is chosen apart (FRAMING): a request declaring more body than it sends is
# not finished, and a server rightly waits for the rest.
FRAMING_HEADERS = (b"content-length", b"transfer-encoding")
HEADERS = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(
                [
                    b"Content-Type",
                    b"Upgrade",
                    b"Connection",
                    b"Expect",
                    b"Sec-WebSocket-Key",
                    b"Sec-WebSocket-Version",
                    b"Sec-WebSocket-Extensions",
                    b"X-Forwarded-For",
                    b"Host",
                ]
            ),
            TOKEN.map(str.encode),
            LINE_BYTES,
        ).filter(lambda name: name.strip().lower() not in FRAMING_HEADERS),
        HEADER_VALUE,
    ),
    max_size=6,
)
# How the body is framed: not at all, by its exact length, as one chunk, or with a Content-Length
# that is not a length (answered at once).
FRAMING = st.one_of(
    st.sampled_from(["none", "length", "chunked"]),
    st.sampled_from([b"abc", b"-1", b"1e3", b"0x10", b"", b"99999999999999999999"]),
)
BODY = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b'{"symbol": "\xff"}', b'{"symbol": 1e999}', b"[" * 2000, b'{"symbol": "BTCUSDT"}']),
)


@pytest.fixture
def fuzzed(simulator: Simulator) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator))
    wait_for(lambda: request("GET", running.rest_url + "/symbols/available").status == 200)
    yield running
    running.stop()


def exchange(port: int, data: bytes, method: str) -> http.client.HTTPResponse:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with contextlib.suppress(OSError):  # answered and closed before the whole request went out: read the answer
        sock.sendall(data)
    response = http.client.HTTPResponse(sock, method=method)
    try:
        response.begin()
        return response
    finally:
        sock.close()  # the response keeps its own reader open


@pytest.mark.parametrize("port_of", ["rest", "websocket"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=METHODS,
    route=st.sampled_from(ROUTES),
    tail=PATH_TAIL,
    query=QUERY,
    headers=HEADERS,
    body=BODY,
    framing=FRAMING,
)
def test_no_request_gets_a_5xx_or_an_error_that_is_not_json(  # noqa: PLR0917 (pytest passes them by name)
    fuzzed: RunningSystem,
    port_of: str,
    method: str,
    route: bytes,
    tail: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    framing: str | bytes,
) -> None:
    port = fuzzed.http_port if port_of == "rest" else fuzzed.ws_port
    target = route + tail + (b"?" + query if query else b"")
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: x", b"Connection: close"]
    head += [name + b": " + value for name, value in headers]
    if framing == "none":
        body = b""
    elif framing == "length":
        head.append(b"Content-Length: %d" % len(body))
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    elif isinstance(framing, bytes):
        head.append(b"Content-Length: " + framing)
    response = exchange(port, b"\r\n".join(head) + b"\r\n\r\n" + body, method)
    with response:
        if response.status == 101:  # a well-formed upgrade on the WebSocket port: a client now
            return
        answer = response.read()
    assert response.status < 500, (response.status, answer)
    if response.status >= 400 and method != "HEAD":
        assert response.getheader("Content-Type", "").startswith("application/json"), answer
        error = json.loads(answer)
        assert set(error) == {"error", "detail"} and error["error"] and error["detail"], error
    assert request("GET", fuzzed.rest_url + "/symbols").status == 200
