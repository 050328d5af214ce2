"""WebSocket limits end in the documented close codes and reasons, and leave the rest served."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import settings_for


@pytest.fixture
def limited(simulator: Simulator, request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator, **request.param))
    yield running
    running.stop()


def health(system: RunningSystem) -> dict:
    return request("GET", system.rest_url + "/health").json["websocket"]


@pytest.mark.parametrize(
    ("limited", "code", "reason", "counter"),
    [
        ({"ws_max_clients": 1}, 1013, "server full: 1 clients", "server_full"),
        ({"ws_max_clients_per_ip": 1}, 1008, "too many connections from this address (limit 1)", "per_address"),
    ],
    indirect=["limited"],
)
def test_client_over_the_limit_is_closed_and_the_first_keeps_streaming(
    limited: RunningSystem, code: int, reason: str, counter: str
) -> None:
    first = WsClient(limited.ws_url)
    try:
        first.until(lambda m: m["type"] == "candle")
        second = WsClient(limited.ws_url)
        try:
            assert second.closed_with() == (code, reason)
        finally:
            second.close()
        assert first.until(lambda m: m["type"] == "candle")
        assert health(limited)["rejected"] == {counter: 1}
        assert health(limited)["clients"] == 1
    finally:
        first.close()


@pytest.mark.parametrize("limited", [{"ws_max_subscriptions": 2}], indirect=True)
def test_subscriptions_over_the_limit_are_refused(limited: RunningSystem) -> None:
    client = WsClient(limited.ws_url + "/?symbols=btcusdt")
    try:
        client.next()
        client.send({"op": "subscribe", "symbols": ["ethusdt", "bnbusdt"], "id": 3})
        error = client.until(lambda m: m["type"] == "error")
        assert error["error"] == "too_many_subscriptions" and error["id"] == 3
        client.send({"op": "list", "id": 4})
        listed = client.until(lambda m: m["type"] == "subscriptions")
        assert listed["subscriptions"] == {"candle": ["BTCUSDT"], "trade": []}, "the refused command changed nothing"
    finally:
        client.close()
    over = WsClient(limited.ws_url + "/?symbols=btcusdt,ethusdt&channels=candle,trade")
    try:
        assert over.closed_with() == (1008, "too many subscriptions (limit 2)")
    finally:
        over.close()


@pytest.mark.parametrize("limited", [{"ws_max_message_bytes": 256}], indirect=True)
def test_oversized_message_closes_with_1009(limited: RunningSystem) -> None:
    client = WsClient(limited.ws_url)
    try:
        client.send({"op": "list", "id": "x" * 300})
        assert client.closed_with() == (1009, "messages are limited to 256 bytes")
    finally:
        client.close()
    wait_for(lambda: health(limited)["disconnects"].get("message too big") == 1)


@pytest.mark.parametrize("limited", [{"ws_handshake_timeout_s": 0.5}], indirect=True)
def test_connection_without_a_handshake_is_dropped(limited: RunningSystem) -> None:
    with socket.create_connection(("127.0.0.1", limited.ws_port), timeout=5) as silent:
        silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        assert silent.recv(1024) == b"", "the server hangs up (before the socket's 5 s timeout)"
    client = WsClient(limited.ws_url)  # the port still serves
    try:
        assert client.until(lambda m: m["type"] == "candle")
    finally:
        client.close()


@pytest.mark.parametrize("limited", [{"ws_handshake_timeout_s": 0.5}], indirect=True)
def test_a_request_trickled_in_slower_than_the_handshake_timeout_is_dropped(limited: RunningSystem) -> None:
    """The timeout bounds the whole request, not each read: a client sending a byte at a time,
    each well within the timeout of the last, holds its connection (and a thread) no longer."""
    trickle = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"  # 0.1 s a byte: 4.7 s in all
    with socket.create_connection(("127.0.0.1", limited.ws_port), timeout=5) as slow:
        started = time.monotonic()
        hung_up_after = None
        for byte in trickle:
            readable, _, _ = select.select([slow], [], [], 0.1)
            if readable:
                assert slow.recv(1024) == b"", "nothing but a hang-up"
                hung_up_after = time.monotonic() - started
                break
            slow.send(bytes([byte]))
    assert hung_up_after is not None, "hung up while the trickle still came: the server did not wait for all of it"
    assert hung_up_after > 0.4, "not before the handshake timeout"


def test_an_address_with_its_share_of_upgrades_in_progress_is_answered_429_and_counted(system: RunningSystem) -> None:
    share = system.settings.ws_max_upgrades_per_ip
    slow = [socket.create_connection(("127.0.0.1", system.ws_port), timeout=5) for _ in range(share)]
    try:
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # unfinished: each holds a request thread
        wait_for(lambda: len([t for t in threading.enumerate() if "websocket-listener-request" in t.name]) >= share)
        with socket.create_connection(("127.0.0.1", system.ws_port), timeout=5) as refused:
            answer = b"".join(iter(lambda: refused.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.1 429 ")
        assert wait_for(lambda: health(system)["rejected"].get("requests_in_progress") == 1)
    finally:
        for sock in slow:
            sock.close()
    # The address is served again once its requests have ended on the server, a moment after.
    client = wait_for(lambda: connect_or_none(system.ws_url))
    try:
        assert client.until(lambda m: m["type"] == "candle")
    finally:
        client.close()


def connect_or_none(url: str) -> WsClient | None:
    try:
        return WsClient(url)
    except websocket.WebSocketBadStatusException as refused:
        assert refused.status_code == 429
        return None


@pytest.mark.parametrize("limited", [{"ws_ping_interval_s": 1.0}], indirect=True)
def test_client_that_stops_answering_pings_is_dropped(limited: RunningSystem) -> None:
    reading = WsClient(limited.ws_url)  # websocket-client answers pings while it reads
    silent = WsClient(limited.ws_url)
    try:
        reading.collect(3.5)
        assert health(limited)["disconnects"] == {"ping timeout": 1}
        assert silent.closed_with() == (1011, "ping timeout")
        assert reading.until(lambda m: m["type"] == "candle")
    finally:
        reading.close()
        silent.close()


@pytest.mark.parametrize("limited", [{"ws_message_rate": "3/second"}], indirect=True)
def test_a_client_sending_too_many_messages_is_closed_and_counted(limited: RunningSystem) -> None:
    calm = WsClient(limited.ws_url)
    chatty = WsClient(limited.ws_url)
    try:
        for request_id in range(3):
            calm.send({"op": "list", "id": request_id})
            chatty.send({"op": "list", "id": request_id})
        assert calm.until(lambda m: m.get("id") == 2)["type"] == "subscriptions"
        chatty.send({"op": "list", "id": 3})
        assert chatty.closed_with() == (1008, "too many messages (limit 3 per 1 second)")
        wait_for(lambda: health(limited)["disconnects"] == {"too many messages": 1})
        time.sleep(1.1)
        calm.send({"op": "list", "id": 4})
        assert calm.until(lambda m: m.get("id") == 4)["type"] == "subscriptions", "a second later it may send again"
        assert calm.until(lambda m: m["type"] == "candle")
    finally:
        calm.close()
        chatty.close()
