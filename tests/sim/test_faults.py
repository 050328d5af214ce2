"""Faults on demand, seen by a plain websocket-client connection as a Binance client would see them."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.upstream import binance
from candlecast.upstream.binance import control_request
from tests.sim.conftest import connect, request

COMBINED_BTC = "/stream?streams=btcusdt@trade"


def until_closed(ws: websocket.WebSocket) -> list[tuple[int, bytes]]:
    """Every frame (control frames too) until the server ends the connection."""
    frames: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            opcode, data = ws.recv_data(control_frame=True)
            frames.append((opcode, data))
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return frames
    except (OSError, websocket.WebSocketConnectionClosedException):
        return frames
    raise AssertionError("the connection stayed open")


def close_code(frames: list[tuple[int, bytes]]) -> int | None:
    closes = [data for opcode, data in frames if opcode == websocket.ABNF.OPCODE_CLOSE]
    return int.from_bytes(closes[0][:2], "big") if closes else None


def next_trade_id(ws: websocket.WebSocket) -> int:
    while True:
        frame = json.loads(ws.recv())
        if "data" in frame:
            return frame["data"]["t"]


@pytest.mark.parametrize(("close_frame", "expected_code"), [(True, 1001), (False, None)])
def test_drop_connections_with_and_without_a_close_frame(
    make_sim: Any, close_frame: bool, expected_code: int | None
) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=20.0)
    clients = [connect(sim.stream_url + COMBINED_BTC) for _ in range(2)]
    try:
        next_trade_id(clients[0])
        assert sim.drop_connections(close_frame=close_frame) == 2
        for ws in clients:
            assert close_code(until_closed(ws)) == expected_code
        assert sim.stats().open_connections == 0
        fresh = connect(sim.stream_url + COMBINED_BTC)
        next_trade_id(fresh)
        fresh.close()
    finally:
        for ws in clients:
            ws.close()


def test_stalled_connections_go_silent_while_the_market_goes_on(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=30.0, ping_interval=0.2)
    stalled = connect(sim.stream_url + COMBINED_BTC)
    try:
        next_trade_id(stalled)
        assert sim.stall_connections() == 1
        recorded = len(sim.trades("BTCUSDT"))
        stalled.send(control_request("LIST_SUBSCRIPTIONS", (), 1))
        stalled.settimeout(0.2)
        while True:  # drain what was queued before the stall
            try:
                stalled.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                break
        stalled.settimeout(1.0)
        with pytest.raises(websocket.WebSocketTimeoutException):
            stalled.recv_data(control_frame=True)
        assert len(sim.trades("BTCUSDT")) > recorded, "trades keep being made and recorded"
        assert sim.stats().open_connections == 1, "the stalled connection stays open"
        fresh = connect(sim.stream_url + COMBINED_BTC)
        next_trade_id(fresh)
        fresh.close()
    finally:
        stalled.close()


def test_skipped_trades_are_recorded_but_never_streamed(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=30.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        seen = [next_trade_id(ws)]
        sim.skip_trades("btcusdt", 5)
        while len(seen) < 40:
            seen.append(next_trade_id(ws))
    finally:
        ws.close()
    jumps = [(a, b) for a, b in itertools.pairwise(seen) if b != a + 1]
    assert len(jumps) == 1 and jumps[0][1] - jumps[0][0] == 6
    missing = range(jumps[0][0] + 1, jumps[0][1])
    assert [t.trade_id for t in sim.trades("BTCUSDT") if t.trade_id in missing] == list(missing)


def test_malformed_frames_rotate_through_four_kinds_and_the_connection_stays(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=20.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        next_trade_id(ws)
        sim.send_malformed(4)
        rejected: list[str] = []
        deadline = time.monotonic() + 5
        while len(rejected) < 4 and time.monotonic() < deadline:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_BINARY:
                rejected.append("binary")
                continue
            try:
                binance.parse_frame(data)
            except binance.MalformedFrame as exc:
                rejected.append(str(exc))
        next_trade_id(ws)
    finally:
        ws.close()
    assert len(rejected) == 4 and "binary" in rejected
    assert any("missing required field" in reason for reason in rejected)
    assert any("not a number" in reason for reason in rejected)


def test_server_shutdown_announces_then_closes(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=20.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        next_trade_id(ws)
        assert sim.server_shutdown(after_s=0.3) == 1
        frames = until_closed(ws)
    finally:
        ws.close()
    events = [json.loads(data) for opcode, data in frames if opcode == websocket.ABNF.OPCODE_TEXT]
    announcements = [e for e in events if e.get("e") == "serverShutdown"]
    assert len(announcements) == 1 and set(announcements[0]) == {"e", "E"}
    assert close_code(frames) == 1001


def test_connections_end_after_their_lifetime(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), connection_lifetime_s=0.5)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        assert close_code(until_closed(ws)) == 1001
    finally:
        ws.close()


def test_ignored_subscribe_is_acknowledged_but_not_listed(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT", "ETHUSDT"))
    ws = connect(f"{sim.stream_url}/ws")
    try:
        sim.ignore_subscribes(1)
        assert request(ws, control_request("SUBSCRIBE", ["btcusdt@trade"], 1)) == {"result": None, "id": 1}
        assert request(ws, control_request("LIST_SUBSCRIPTIONS", (), 2)) == {"result": [], "id": 2}
        assert request(ws, control_request("SUBSCRIBE", ["ethusdt@trade"], 3)) == {"result": None, "id": 3}
        assert request(ws, control_request("LIST_SUBSCRIPTIONS", (), 4)) == {"result": ["ethusdt@trade"], "id": 4}
    finally:
        ws.close()
