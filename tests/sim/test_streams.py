"""Stream connections with the production client library (websocket-client) over loopback."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
from typing import Any

import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.upstream.binance import control_request
from tests.sim.conftest import connect, now_ms, receive_trades, request

EVENT_KEYS = ["e", "E", "s", "t", "p", "q", "T", "m", "M"]


def next_event(ws: websocket.WebSocket) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv())
        if "result" not in frame and "error" not in frame:
            return frame


def test_combined_stream_delivers_every_trade_in_id_order_and_equal_to_the_record(make_sim: Any) -> None:
    sim: Simulator = make_sim(trades_per_second=20.0)
    ws = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade/ethusdt@trade")
    try:
        received = [trade for trade, _ in receive_trades(ws, until=lambda t: t.time >= sim.opens_at + 1500)]
    finally:
        ws.close()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        mine = [t for t in received if t.symbol == symbol]
        ids = [t.trade_id for t in mine]
        assert len(ids) > 10 and ids == list(range(ids[0], ids[0] + len(ids)))
        record = sim.trades(symbol)
        assert mine == [t for t in record if ids[0] <= t.trade_id <= ids[-1]]
        assert record[0].time >= sim.opens_at
    assert {t.symbol for t in received} == {"BTCUSDT", "ETHUSDT"}


def test_combined_and_raw_frame_shapes(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=30.0)
    combined = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade")
    raw = connect(f"{sim.stream_url}/ws/btcusdt@trade")
    try:
        envelope = next_event(combined)
        event = next_event(raw)
    finally:
        combined.close()
        raw.close()
    assert list(envelope) == ["stream", "data"] and envelope["stream"] == "btcusdt@trade"
    for payload in (envelope["data"], event):
        assert list(payload) == EVENT_KEYS
        assert payload["e"] == "trade" and payload["s"] == "BTCUSDT" and payload["M"] is True
        assert payload["E"] >= payload["T"]
        assert len(payload["p"].split(".")[1]) == 8 and len(payload["q"].split(".")[1]) == 8
    assert event["t"] == envelope["data"]["t"], "both connections start from the same trade"


def test_live_requests_and_error_replies_keep_the_connection(make_sim: Any) -> None:
    # Many requests in quick succession: lift Binance's 5 messages per second for this test.
    sim: Simulator = make_sim(symbols=("BTCUSDT", "ETHUSDT"), trades_per_second=30.0, max_incoming_per_second=100)
    ws = connect(f"{sim.stream_url}/ws")
    try:
        assert request(ws, control_request("LIST_SUBSCRIPTIONS", (), 1)) == {"result": [], "id": 1}
        assert request(ws, control_request("SUBSCRIBE", ["btcusdt@trade", "ethusdt@trade"], 2)) == {
            "result": None,
            "id": 2,
        }
        assert request(ws, control_request("LIST_SUBSCRIPTIONS", (), 3)) == {
            "result": ["btcusdt@trade", "ethusdt@trade"],
            "id": 3,
        }
        assert request(ws, control_request("UNSUBSCRIBE", ["ethusdt@trade"], 4)) == {"result": None, "id": 4}
        assert request(ws, control_request("LIST_SUBSCRIPTIONS", (), 5)) == {"result": ["btcusdt@trade"], "id": 5}
        errors = [
            ("{oops", 3, None),
            ({"method": "SUBSCRIBE", "params": ["nopeusdt@trade"], "id": 6}, 2, 6),
            ({"method": "TRADE", "id": 7}, 2, 7),
            ({"method": "SUBSCRIBE", "params": ["btcusdt@trade"]}, 2, None),
            ({"method": "SET_PROPERTY", "params": ["speed", True], "id": 8}, 0, 8),
            ({"method": "SET_PROPERTY", "params": ["combined", 1], "id": 9}, 1, 9),
        ]
        for body, code, request_id in errors:
            reply = request(ws, body)
            assert reply["error"]["code"] == code and reply["id"] == request_id, body
            assert set(reply) == {"error", "id"} and reply["error"]["msg"]
        assert request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 10}) == {"result": False, "id": 10}
        assert next_event(ws)["s"] == "BTCUSDT", "raw payloads after the errors: the connection is still up"
        assert request(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 11}) == {
            "result": None,
            "id": 11,
        }
        envelope = next_event(ws)
        while "stream" not in envelope:
            envelope = next_event(ws)
        assert envelope["stream"] == "btcusdt@trade"
        assert request(ws, control_request("UNSUBSCRIBE", ["btcusdt@trade"], 12)) == {"result": None, "id": 12}
        ws.settimeout(1.2)
        after = []
        with contextlib.suppress(websocket.WebSocketTimeoutException):
            after.extend(itertools.islice(iter(ws.recv, None), 50))
        assert all(json.loads(frame).get("stream") is None for frame in after[1:]), "no trades after UNSUBSCRIBE"
    finally:
        ws.close()


def test_trades_never_arrive_before_their_time_by_the_exchange_clock(make_sim: Any) -> None:
    offset = -3_600_000
    sim: Simulator = make_sim(symbols=("BTCUSDT", "SOLUSDT"), trades_per_second=40.0, time_offset_ms=offset)
    assert abs(sim.opens_at - now_ms(offset)) < 3000
    ws = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade/solusdt@trade")
    try:
        received = receive_trades(ws, until=lambda t: t.time >= sim.opens_at + 1500, clock_offset_ms=offset)
    finally:
        ws.close()
    assert len(received) > 40
    early = [(trade.time, arrived) for trade, arrived in received if arrived < trade.time]
    assert not early
    lag = sorted(arrived - trade.time for trade, arrived in received)
    assert lag[len(lag) // 2] < 100, "trades are published when due, not in late batches"


@pytest.mark.parametrize(
    "path",
    ["/ws/nopeusdt@trade", "/ws/btcusdt@kline_1s", "/stream?streams=btcusdt@trade/xyz@trade", "/ws/BTCUSDT@trade"],
)
def test_unknown_streams_are_refused_at_the_handshake(make_sim: Any, path: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    with pytest.raises(websocket.WebSocketBadStatusException) as failure:
        connect(sim.stream_url + path)
    assert failure.value.status_code == 400


def test_server_pings_and_drops_a_client_that_never_pongs(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), ping_interval=0.3, pong_timeout_s=0.5)
    answering = connect(f"{sim.stream_url}/ws")
    silent = connect(f"{sim.stream_url}/ws")
    try:
        pings = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # reading is what makes websocket-client answer pings
            opcode, _ = answering.recv_data(control_frame=True)
            pings += opcode == websocket.ABNF.OPCODE_PING
        assert pings >= 3
        assert request(answering, control_request("LIST_SUBSCRIPTIONS", (), 1)) == {"result": [], "id": 1}
        opcodes = []
        try:
            while websocket.ABNF.OPCODE_CLOSE not in opcodes:
                opcodes.append(silent.recv_data(control_frame=True)[0])
        except (OSError, websocket.WebSocketConnectionClosedException):
            pass  # the pong owed to the first ping met a socket the server had already closed
    finally:
        answering.close()
        silent.close()


def test_plain_http_on_the_stream_port_is_refused(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    host, port = sim.stream_url.removeprefix("ws://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /ws/btcusdt@trade HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
