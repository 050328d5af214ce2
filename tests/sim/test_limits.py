"""Binance's limits as the simulator enforces them: incoming messages per second, streams per
connection, REST request weight, 429/418 with Retry-After, and the API key historicalTrades wants."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import websocket

from candlecast.sim import Simulator
from candlecast.upstream import exchange_info
from candlecast.upstream.binance import control_request
from tests.clients import wait_for
from tests.sim.conftest import connect, request, wait_for_trades
from tests.sim.test_faults import close_code, until_closed


def get(sim: Simulator, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(sim.rest_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, lower_keys(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, lower_keys(exc.headers), json.loads(exc.read())


def lower_keys(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def wait_for_fresh_minute(sim: Simulator) -> None:
    """Weight is counted per minute of the exchange clock; start well inside one."""
    wait_for(lambda: get(sim, "/api/v3/time")[2]["serverTime"] % 60_000 <= 52_000, interval=0.2)


def test_more_than_five_frames_in_a_second_disconnects_pongs_included(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    polite = connect(f"{sim.stream_url}/ws")
    chatty = connect(f"{sim.stream_url}/ws")
    try:
        for request_id in range(5):
            assert request(polite, control_request("LIST_SUBSCRIPTIONS", (), request_id)) == {
                "result": [],
                "id": request_id,
            }
        for _ in range(6):
            chatty.pong("")
        frames = until_closed(chatty)
        assert close_code(frames) == 1008
        assert frames[-1][1][2:] == b"Too many requests"
        time.sleep(1.0)  # a new second: the polite client may speak again
        assert request(polite, control_request("LIST_SUBSCRIPTIONS", (), 9)) == {"result": [], "id": 9}
    finally:
        polite.close()
        chatty.close()
    stats = sim.stats()
    assert stats.throttle_disconnects == 1
    assert stats.frames_received >= 12


def test_too_many_streams_are_refused_by_disconnecting(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), max_streams_per_connection=2)
    crowded = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade/ethusdt@trade/bnbusdt@trade")
    growing = connect(f"{sim.stream_url}/stream?streams=btcusdt@trade")
    try:
        assert close_code(until_closed(crowded)) == 1008
        assert request(growing, control_request("SUBSCRIBE", ["ethusdt@trade"], 1)) == {"result": None, "id": 1}
        growing.send(control_request("SUBSCRIBE", ["bnbusdt@trade"], 2))
        assert close_code(until_closed(growing)) == 1008
    finally:
        crowded.close()
        growing.close()
    assert sim.stats().stream_limit_disconnects == 2


def test_every_answer_reports_the_minute_weight_and_the_limit_answers_429(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), weight_limit_1m=60)
    wait_for_fresh_minute(sim)
    used_before = int(get(sim, "/api/v3/ping")[1]["x-mbx-used-weight-1m"])
    status, headers, _ = get(sim, "/api/v3/exchangeInfo")
    assert status == 200 and int(headers["x-mbx-used-weight-1m"]) == used_before + 20
    assert int(get(sim, "/api/v3/trades?symbol=BTCUSDT")[1]["x-mbx-used-weight-1m"]) == used_before + 45
    status, headers, body = get(sim, "/api/v3/exchangeInfo")
    assert status == 429 and body["code"] == -1003 and body["msg"].startswith("Too many requests")
    assert 1 <= int(headers["retry-after"]) <= 60
    assert int(headers["x-mbx-used-weight-1m"]) == used_before + 45
    assert get(sim, "/api/v3/aggTrades?symbol=BTCUSDT")[0] == 200, "a lighter request still fits"
    stats = sim.stats()
    assert stats.weight_used_1m == used_before + 49 and stats.rest_rejections == 1


def test_injected_429_and_418_on_trade_endpoints_only(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    wait_for_trades(sim, "BTCUSDT", 1)
    sim.fail_rest(status=429, retry_after_s=3, count=2)
    sim.fail_rest(status=418, retry_after_s=7)
    assert get(sim, "/api/v3/ping")[0] == 200
    answers = [
        get(sim, path)
        for path in (
            "/api/v3/trades?symbol=BTCUSDT",
            "/api/v3/aggTrades?symbol=BTCUSDT",
            "/api/v3/historicalTrades?symbol=BTCUSDT",
            "/api/v3/trades?symbol=BTCUSDT",
        )
    ]
    assert [(status, headers.get("retry-after")) for status, headers, _ in answers] == [
        (429, "3"),
        (429, "3"),
        (418, "7"),
        (200, None),
    ]
    assert all(body["code"] == -1003 for _, _, body in answers[:3])
    assert answers[2][2]["msg"].startswith("Way too many requests")
    assert sim.stats().rest_rejections == 3


def test_historical_trades_can_want_an_api_key(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), historical_trades_need_key=True)
    wait_for_trades(sim, "BTCUSDT", 1)
    assert get(sim, "/api/v3/historicalTrades?symbol=BTCUSDT")[::2] == (
        401,
        {"code": -2014, "msg": "API-key format invalid."},
    )
    assert get(sim, "/api/v3/historicalTrades?symbol=BTCUSDT", {"X-MBX-APIKEY": "anything"})[0] == 200
    assert get(sim, "/api/v3/aggTrades?symbol=BTCUSDT")[0] == 200


def test_synthetic_symbols_extend_the_listing(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("SYN0003USDT",), synthetic_symbols=600, trades_per_second=20.0)
    trading = exchange_info.trading_symbols(json.dumps(get(sim, "/api/v3/exchangeInfo")[2]).encode())
    assert {"BTCUSDT", "SYN0001USDT", "SYN0600USDT"} <= trading and "SYN0601USDT" not in trading
    ws = connect(f"{sim.stream_url}/ws/syn0003usdt@trade")
    try:
        event = json.loads(ws.recv())
    finally:
        ws.close()
    assert event["s"] == "SYN0003USDT"


def test_server_pings_count_on_the_configured_timeout(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), ping_interval=0.2, pong_timeout_s=30.0)
    ws = connect(f"{sim.stream_url}/ws")
    try:
        ws.settimeout(5)
        opcodes = [ws.recv_data(control_frame=True)[0] for _ in range(2)]
        assert opcodes == [websocket.ABNF.OPCODE_PING] * 2, "pings keep coming while none is answered"
    finally:
        ws.close()
