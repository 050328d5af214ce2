"""Whatever bytes a WebSocket client sends, it gets an error reply or a documented close, and
every other client goes on being served by the same reader thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pykka
import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, raw_request, request, wait_for
from tests.conftest import settings_for

TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0


def raw_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame as it goes on the wire, masked with a zero key so the payload reads as is."""
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | length])
    elif length < 1 << 16:
        header = bytes([0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | 127]) + length.to_bytes(8, "big")
    return bytes([(0x80 if fin else 0) | opcode]) + header + b"\0\0\0\0" + payload


def text(body: str) -> bytes:
    return raw_frame(TEXT, body.encode())


HOSTILE_ANSWERED = {
    "since a superscript digit": text('{"op": "subscribe", "since": "\u00b2"}'),
    "since 5,000 digits": text('{"op": "subscribe", "since": "' + "9" * 5000 + '"}'),
    "since a float": text('{"op": "subscribe", "since": 1.5}'),
    "since negative": text('{"op": "subscribe", "since": -1}'),
    "1,000 nested arrays": text("[" * 1000 + "]" * 1000),
    "a huge id": text('{"op": "list", "id": ' + "9" * 30 + "}"),
    "a nested id": text('{"op": "list", "id": ' + "[" * 900 + "]" * 900 + "}"),
    "unknown fields": text('{"op": "list", "junk": 1}'),
    "not an object": text("42"),
    "binary garbage": raw_frame(BINARY, b"\xff\x00\xfe"),
}

HOSTILE_CLOSED = {
    "invalid UTF-8 in a text frame": (raw_frame(TEXT, b'{"op": "\xff"}'), 1007),
    "a continuation with no message begun": (raw_frame(CONTINUATION, b"{}"), 1002),
    "a fragmented ping": (raw_frame(0x9, b"", fin=False), 1002),
}


@pytest.fixture
def watched(simulator: Simulator) -> Iterator[tuple[RunningSystem, WsClient]]:
    """A system taking messages big enough for a 5,000-digit number, and a healthy client
    already receiving candles."""
    system = start_system(settings_for(simulator, ws_max_message_bytes=16384))
    try:
        healthy = WsClient(system.ws_url)
        try:
            healthy.until(lambda m: m["type"] == "candle")
            yield system, healthy
        finally:
            healthy.close()
    finally:
        system.stop()


def still_served(system: RunningSystem, healthy: WsClient, request_id: int) -> None:
    """The reader thread runs, and the healthy client gets candles and answers to its commands."""
    assert "websocket-reader" in [t.name for t in threading.enumerate()]
    assert healthy.until(lambda m: m["type"] == "candle")
    healthy.send({"op": "list", "id": request_id})
    assert healthy.until(lambda m: m.get("id") == request_id)["type"] == "subscriptions"


@pytest.mark.parametrize("frame", HOSTILE_ANSWERED.values(), ids=HOSTILE_ANSWERED.keys())
def test_hostile_message_gets_an_error_and_everyone_is_still_served(
    watched: tuple[RunningSystem, WsClient], frame: bytes
) -> None:
    system, healthy = watched
    hostile = WsClient(system.ws_url + "/?channels=trade")
    try:
        hostile.next()  # the subscription's acknowledgement
        hostile.socket.sock.sendall(frame)
        error = hostile.until(lambda m: m["type"] == "error")
        assert error["error"] == "bad_command" and error["detail"]
        hostile.send({"op": "list", "id": 1})
        assert hostile.until(lambda m: m.get("id") == 1)["type"] == "subscriptions", "the client stays"
        still_served(system, healthy, 2)
    finally:
        hostile.close()


def test_a_command_in_a_binary_frame_is_carried_out(watched: tuple[RunningSystem, WsClient]) -> None:
    system, _healthy = watched
    client = WsClient(system.ws_url + "/?channels=trade")
    try:
        client.next()
        client.socket.sock.sendall(raw_frame(BINARY, b'{"op": "list", "id": 7}'))
        assert client.until(lambda m: m.get("id") == 7)["type"] == "subscriptions"
    finally:
        client.close()


@pytest.mark.parametrize(("frame", "code"), HOSTILE_CLOSED.values(), ids=HOSTILE_CLOSED.keys())
def test_broken_framing_gets_its_close_code_and_everyone_is_still_served(
    watched: tuple[RunningSystem, WsClient], frame: bytes, code: int
) -> None:
    system, healthy = watched
    hostile = WsClient(system.ws_url + "/?channels=trade")
    try:
        hostile.next()
        hostile.socket.sock.sendall(frame)
        assert hostile.closed_with()[0] == code
    finally:
        hostile.close()
    still_served(system, healthy, 1)
    disconnects = request("GET", system.rest_url + "/health").json["websocket"]["disconnects"]
    assert disconnects == {"protocol error": 1}


@pytest.mark.parametrize("query", ["since=%C2%B2", "since=" + "9" * 5000, "since=1.5", "symbols=" + "%5B" * 1000])
def test_hostile_connect_query_is_refused_400_with_json(system: RunningSystem, query: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(system.ws_url + "/?" + query, timeout=5)
    assert refused.value.status_code == 400
    body = json.loads(refused.value.resp_body)
    assert body["error"] == "Bad subscription" and ("since" in body["detail"] or "symbol" in body["detail"])


def test_a_message_in_fragments_is_one_command(system: RunningSystem) -> None:
    client = WsClient(system.ws_url + "/?channels=trade")
    try:
        client.next()
        fragments = raw_frame(TEXT, b'{"op": ', fin=False) + raw_frame(CONTINUATION, b'"list", "id": 5}')
        client.socket.sock.sendall(fragments)
        assert client.until(lambda m: m.get("id") == 5)["type"] == "subscriptions"
    finally:
        client.close()


@pytest.fixture
def limited(simulator: Simulator, request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator, **request.param))
    yield running
    running.stop()


@pytest.mark.parametrize("limited", [{"ws_max_message_frames": 8, "ws_message_rate": ""}], indirect=True)
def test_empty_fragments_count_against_the_frames_of_a_message(limited: RunningSystem) -> None:
    client = WsClient(limited.ws_url)
    try:
        client.socket.sock.sendall(raw_frame(TEXT, b"{", fin=False) + raw_frame(CONTINUATION, b"", fin=False) * 8)
        assert client.closed_with() == (1009, "messages are limited to 8 frames")
    finally:
        client.close()
    wait_for(
        lambda: request("GET", limited.rest_url + "/health").json["websocket"]["disconnects"] == {"message too big": 1}
    )


@pytest.mark.parametrize("limited", [{"ws_message_rate": "5/minute"}], indirect=True)
def test_empty_fragments_count_against_the_message_rate(limited: RunningSystem) -> None:
    client = WsClient(limited.ws_url)
    try:
        client.socket.sock.sendall(raw_frame(TEXT, b"", fin=False) + raw_frame(CONTINUATION, b"", fin=False) * 5)
        assert client.closed_with() == (1008, "too many messages (limit 5 per 1 minute)")
    finally:
        client.close()


UPGRADE = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"


@pytest.mark.parametrize(
    "head",
    [
        f"POST / HTTP/1.1\r\nHost: x\r\n{UPGRADE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Content-Length: 0\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}Sec-WebSocket-Key: \xff\xff\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n",
    ],
    ids=["post", "key-not-base64", "key-not-16-bytes", "no-key"],
)
def test_an_upgrade_rfc_6455_does_not_allow_is_refused_400_with_json(system: RunningSystem, head: str) -> None:
    reply = raw_request(system.ws_url.replace("ws://", "http://"), head.encode("latin-1"))
    assert reply.status == 400 and reply.json["error"] == "Bad WebSocket handshake"


def test_a_reader_that_ended_is_reported_failed_and_upgrades_are_refused_503(system: RunningSystem) -> None:
    client = WsClient(system.ws_url)
    client.until(lambda m: m["type"] == "candle")
    reader = next(t for t in threading.enumerate() if t.name == "websocket-reader")

    def broken(*args: object) -> None:
        raise pykka.ActorDeadError("injected")  # ends the loop, as a lost broadcaster would

    reader._turn = broken  # type: ignore[attr-defined]
    reader._wake()  # type: ignore[attr-defined]
    try:
        assert client.closed_with()[0] == 1011
    finally:
        client.close()
    health = wait_for(lambda: (h := request("GET", system.rest_url + "/health").json)["status"] == "degraded" and h)
    assert health["components"]["websocket-reader"]["state"] == "failed"
    assert request("GET", system.rest_url + "/readyz").status == 503
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(system.ws_url, timeout=5)
    assert refused.value.status_code == 503 and json.loads(refused.value.resp_body)["error"] == "Service unavailable"
