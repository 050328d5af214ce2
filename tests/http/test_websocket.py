"""The WebSocket bridge protocol: default stream, connect-time and live subscriptions, errors."""

from __future__ import annotations

import threading
import time

import websocket

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import settings_for


def test_default_client_gets_every_candle(system: RunningSystem) -> None:
    client = WsClient(system.ws_url)
    try:
        messages = [client.until(lambda m: m["type"] == "candle")]
        messages += client.collect(2.5)
    finally:
        client.close()
    assert messages and all(m["type"] == "candle" for m in messages)
    assert {m["symbol"] for m in messages} == {"BTCUSDT", "ETHUSDT"}


def test_connect_time_subscription(system: RunningSystem) -> None:
    client = WsClient(system.ws_url + "/?symbols=btcusdt&channels=candle,trade")
    try:
        ack = client.next()
        assert ack == {"type": "subscribed", "id": None, "subscriptions": {"candle": ["BTCUSDT"], "trade": ["BTCUSDT"]}}
        messages = [client.until(lambda m: m["type"] == "candle")]
        messages += client.collect(2)
    finally:
        client.close()
    assert {m["type"] for m in messages} == {"candle", "trades"}
    assert {m["symbol"] for m in messages} == {"BTCUSDT"}
    trade_ids = [t["trade_id"] for m in messages if m["type"] == "trades" for t in m["trades"]]
    assert len(trade_ids) > 3
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids))), "trades arrive complete and in order"


def test_live_subscribe_and_unsubscribe(system: RunningSystem) -> None:
    client = WsClient(system.ws_url)
    try:
        client.send({"op": "subscribe", "symbols": ["ethusdt"], "channels": ["trade"], "id": 7})
        ack = client.until(lambda m: m["type"] == "subscribed")
        assert ack == {"type": "subscribed", "id": 7, "subscriptions": {"candle": [], "trade": ["ETHUSDT"]}}
        assert client.until(lambda m: m["type"] == "trades")["symbol"] == "ETHUSDT"
        client.send({"op": "unsubscribe", "symbols": ["ETHUSDT"], "channels": ["trade"], "id": 8})
        ack = client.until(lambda m: m["type"] == "unsubscribed")
        assert ack["subscriptions"] == {"candle": [], "trade": []} and ack["id"] == 8
        assert client.collect(1.5) == [], "nothing after unsubscribing from everything"
        client.send({"op": "list", "id": "x"})
        assert client.next() == {"type": "subscriptions", "id": "x", "subscriptions": {"candle": [], "trade": []}}
    finally:
        client.close()


def test_a_symbol_named_beside_every_symbol_arrives_once_and_only_named_ones_on_the_other_channel(
    system: RunningSystem,
) -> None:
    client = WsClient(system.ws_url)
    try:
        client.send({"op": "subscribe", "symbols": "*", "id": 0})
        client.until(lambda m: m["type"] == "subscribed" and m["id"] == 0)
        client.send({"op": "subscribe", "symbols": ["btcusdt"], "channels": ["candle", "trade"], "id": 1})
        ack = client.until(lambda m: m["type"] == "subscribed" and m["id"] == 1)
        assert ack["subscriptions"] == {"candle": ["*", "BTCUSDT"], "trade": ["BTCUSDT"]}
        received = [client.until(lambda m: m["type"] == "candle"), *client.collect(3.5)]
    finally:
        client.close()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        seconds = [
            m["open_time"] for m in received if m["type"] == "candle" and m["symbol"] == symbol and m["revision"] == 0
        ]
        assert len(seconds) >= 2 and seconds == sorted(set(seconds)), f"{symbol}: each second once"
    assert {m["symbol"] for m in received if m["type"] == "trades"} == {"BTCUSDT"}


def test_bad_commands_get_errors_and_the_connection_stays(system: RunningSystem) -> None:
    client = WsClient(system.ws_url + "/?channels=trade&symbols=btcusdt")
    try:
        client.next()
        for bad in (
            "not json",
            "[1,2]",
            '{"op": "dance"}',
            '{"op": "subscribe", "channels": ["depth"]}',
            '{"op": "subscribe", "symbols": ["BAD SYMBOL"]}',
            '{"op": "subscribe", "extra": 1}',
        ):
            client.send(bad)
            reply = client.until(lambda m: m["type"] == "error")
            assert reply["error"] == "bad_command" and reply["detail"]
        client.send({"op": "list", "id": 1})
        assert client.until(lambda m: m["type"] == "subscriptions")["subscriptions"]["trade"] == ["BTCUSDT"]
    finally:
        client.close()


def test_bad_connect_query_is_refused_with_json(system: RunningSystem) -> None:
    try:
        websocket.create_connection(system.ws_url + "/?channels=depth", timeout=5)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 400
    else:
        raise AssertionError("handshake should have been refused")


def test_plain_http_on_the_websocket_port_reaches_the_same_app(system: RunningSystem) -> None:
    base = system.ws_url.replace("ws://", "http://")
    reply = request("GET", base + "/symbols")
    assert reply.status == 200 and reply.json == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}
    wait_for(lambda: request("GET", base + "/symbols/available").status == 200)  # exchangeInfo loaded
    added = request(
        "POST", base + "/add_symbol", body='{"symbol": "bnbusdt"}', headers={"Content-Type": "application/json"}
    )
    assert added.status == 200, added.json
    assert "BNBUSDT" in request("GET", base + "/symbols").json["symbols"], "the request's body was read"


def test_websocket_upgrade_on_the_rest_port_is_refused(system: RunningSystem) -> None:
    try:
        websocket.create_connection(system.rest_url.replace("http://", "ws://"), timeout=5)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 400
    else:
        raise AssertionError("REST port must not accept WebSocket clients")


def test_subscribing_delivers_the_latest_closed_candle_at_once(system: RunningSystem) -> None:
    client = WsClient(system.ws_url + "/?symbols=ethusdt")
    try:
        client.next()
        client.until(lambda m: m["type"] == "candle")
        replayed_before = request("GET", system.rest_url + "/health").json["websocket"]["replayed"]
        client.send({"op": "subscribe", "symbols": ["btcusdt"], "id": 1})
        client.until(lambda m: m["type"] == "subscribed")
        candle = client.until(lambda m: m["type"] == "candle" and m["symbol"] == "BTCUSDT", timeout=0.3)
        assert candle["close_time"] < time.time() * 1000, "a closed candle"
        assert request("GET", system.rest_url + "/health").json["websocket"]["replayed"] == replayed_before + 1
    finally:
        client.close()


def test_since_replays_exactly_the_missed_candles(system: RunningSystem) -> None:
    first = WsClient(system.ws_url + "/?symbols=btcusdt,ethusdt")
    try:
        first.next()
        seen = [first.until(lambda m: m["type"] == "candle")]
        seen += [m for m in first.collect(3.0) if m["type"] == "candle"]
    finally:
        first.close()
    since = seen[0]["open_time"]
    second = WsClient(system.ws_url + f"/?symbols=btcusdt,ethusdt&since={since}")
    try:
        second.next()
        replayed = [m for m in second.collect(0.3) if m["type"] == "candle"]
    finally:
        second.close()
    key = lambda m: (m["symbol"], m["open_time"])  # noqa: E731
    replayed_keys = [key(m) for m in replayed]
    assert set(map(key, seen)) <= set(replayed_keys), "every candle the first connection saw is replayed"
    assert all(m["open_time"] >= since for m in replayed)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        times = [t for s, t in replayed_keys if s == symbol]
        assert times == list(range(times[0], times[-1] + 1000, 1000)), "in order, each second once"
    by_key = {key(m): m for m in replayed}
    assert all(by_key[key(m)] == m for m in seen if m["revision"] == by_key[key(m)]["revision"])


def test_health_counts_the_cpu_of_the_fan_out(system: RunningSystem) -> None:
    """The broadcaster's and the writers' thread CPU, so a message's cost can be read off a
    running server; the writers' figure grows as they deliver."""
    client = WsClient(system.ws_url + "/?channels=candle,trade")
    try:
        client.until(lambda m: m["type"] == "candle")
        before = request("GET", system.rest_url + "/health").json["websocket"]["cpu_s"]
        client.collect(1.5)
        after = request("GET", system.rest_url + "/health").json["websocket"]["cpu_s"]
    finally:
        client.close()
    assert set(after) == {"broadcaster", "writers"}
    assert 0 < before["writers"] < after["writers"]
    assert 0 < before["broadcaster"] < after["broadcaster"]


def test_clients_shared_among_several_writers_each_get_every_second(simulator: Simulator) -> None:
    """With more than one writer each owns the clients whose id falls to it; every share gets
    the whole stream, and /health adds up what all the writers delivered."""
    system = start_system(settings_for(simulator, ws_writers=3))
    clients = [WsClient(system.ws_url) for _ in range(4)]  # ids fall to writers 0, 1, 2 and 0 again
    try:
        for client in clients:
            client.until(lambda m: m["type"] == "candle")
        readers = [threading.Thread(target=client.collect, args=(3.5,)) for client in clients]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        stats = request("GET", system.rest_url + "/health").json["websocket"]
    finally:
        for client in clients:
            client.close()
        system.stop()
    streams = [
        {(m["symbol"], m["open_time"]) for m in client.received if m["type"] == "candle" and m["revision"] == 0}
        for client in clients
    ]
    for stream in streams:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            seconds = sorted(t for s, t in stream if s == symbol)
            assert len(seconds) >= 3 and seconds == list(range(seconds[0], seconds[-1] + 1000, 1000)), symbol
    assert stats["clients"] == 4 and stats["delivered"] >= sum(len(client.received) for client in clients)
