"""The REST contract against a real system on waitress, fed by the real simulator."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from candlecast.actors.http_server import ListenError
from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import Reply, raw_request, request, wait_for
from tests.conftest import settings_for

CANDLE_FIELDS = {
    "symbol",
    "open_time",
    "close_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "first_trade_id",
    "last_trade_id",
    "revision",
    "complete",
    "timestamp",
}


def assert_error(reply: Reply, status: int) -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"]
    return body


def post_symbol(system: RunningSystem, body: bytes | str, headers: dict[str, str] | None = None) -> Reply:
    return request(
        "POST", system.rest_url + "/add_symbol", body, headers={"Content-Type": "application/json", **(headers or {})}
    )


def test_status_and_symbol_lists(system: RunningSystem) -> None:
    status = wait_for(lambda: (r := request("GET", system.rest_url + "/")).json["upstream"] == "connected" and r)
    assert status.status == 200 and status.json["message"]
    assert request("GET", system.rest_url + "/symbols").json == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}
    available = wait_for(lambda: (r := request("GET", system.rest_url + "/symbols/available")).status == 200 and r)
    assert available.json["count"] == len(available.json["symbols"]) > 10
    assert "BTCUSDT" in available.json["symbols"]
    assert "LUNAUSDT" not in available.json["symbols"], "a BREAK symbol is not available"


def test_add_and_remove_symbol(system: RunningSystem) -> None:
    wait_for(lambda: request("GET", system.rest_url + "/symbols/available").status == 200)
    added = post_symbol(system, '{"symbol": "solusdt"}')
    assert added.status == 200 and added.json == {"message": added.json["message"], "symbol": "SOLUSDT"}
    assert "SOLUSDT" in request("GET", system.rest_url + "/symbols").json["symbols"]
    assert_error(post_symbol(system, '{"symbol": "SOLUSDT"}'), 409)
    assert_error(request("GET", system.rest_url + "/ohlc/SOLUSDT"), 404)  # subscribed, nothing closed yet
    removed = request("DELETE", system.rest_url + "/remove_symbol/Solusdt")
    assert removed.status == 200 and removed.json["message"]
    assert_error(request("DELETE", system.rest_url + "/remove_symbol/SOLUSDT"), 404)
    assert request("GET", system.rest_url + "/symbols").json == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}


@pytest.mark.parametrize(("route", "newer_by"), [("/ohlc", "open_time"), ("/tick", "trade_id")])
def test_latest_candle_and_trade_follow_removal_and_adding_again(
    system: RunningSystem, route: str, newer_by: str
) -> None:
    """/ohlc and /tick read what the store published: right after a removal they answer 'Not
    subscribed', and after adding again nothing of the first subscription."""
    url = system.rest_url + route + "/ETHUSDT"
    latest = wait_for(lambda: (r := request("GET", url)).status == 200 and r.json)
    assert latest["symbol"] == "ETHUSDT"
    assert request("DELETE", system.rest_url + "/remove_symbol/ETHUSDT").status == 200
    assert assert_error(request("GET", url), 404)["error"] == "Not subscribed"
    assert post_symbol(system, '{"symbol": "ETHUSDT"}').status == 200
    reply = request("GET", url)
    if reply.status == 200:  # the new subscription's first already
        assert reply.json[newer_by] > latest[newer_by]
    else:
        assert assert_error(reply, 404)["error"] == "No data yet"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"symbol": "NOPEUSDT"}', 400),
        ('{"symbol": "LUNAUSDT"}', 400),
        ('{"symbol": "BTC USDT!"}', 400),
        ("{not json", 400),
        ("", 400),
        ('{"sym": "BTCUSDT"}', 400),
        ('["BTCUSDT"]', 400),
        ('{"symbol": 5}', 400),
        (b'{"symbol": "\xff"}', 400),
        (b'{"symbol": "BTC\xc3"}', 400),
    ],
)
def test_add_symbol_rejects_bad_input(system: RunningSystem, body: str | bytes, status: int) -> None:
    wait_for(lambda: request("GET", system.rest_url + "/symbols/available").status == 200)
    assert_error(post_symbol(system, body), status)
    assert request("GET", system.rest_url + "/symbols").json == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}


def test_oversized_body_is_413(system: RunningSystem) -> None:
    body = '{"symbol": "BTCUSDT", "pad": "' + "x" * 10_000 + '"}'
    assert_error(post_symbol(system, body), 413)


def test_tick_ohlc_and_candles(system: RunningSystem) -> None:
    tick = wait_for(lambda: (r := request("GET", system.rest_url + "/tick/btcusdt")).status == 200 and r)
    assert {"symbol", "price", "qty", "timestamp"} <= set(tick.json) and tick.json["symbol"] == "BTCUSDT"
    ohlc = wait_for(lambda: (r := request("GET", system.rest_url + "/ohlc/BTCUSDT")).status == 200 and r, timeout=15)
    assert set(ohlc.json) == CANDLE_FIELDS
    assert ohlc.json["close_time"] == ohlc.json["open_time"] + 999
    assert ohlc.json["timestamp"].endswith("Z")
    wait_for(lambda: request("GET", system.rest_url + "/candles/BTCUSDT?limit=3").json["count"] == 3, timeout=15)
    candles = request("GET", system.rest_url + "/candles/BTCUSDT?limit=3").json["candles"]
    assert [c["open_time"] for c in candles] == [candles[0]["open_time"] + 1000 * i for i in range(3)]
    assert set(candles[0]) == CANDLE_FIELDS
    assert_error(request("GET", system.rest_url + "/candles/BTCUSDT?limit=0"), 400)
    assert_error(request("GET", system.rest_url + "/candles/BTCUSDT?limit=abc"), 400)
    for path in ("/tick/SOLUSDT", "/ohlc/SOLUSDT", "/candles/SOLUSDT"):
        assert_error(request("GET", system.rest_url + path), 404)
    assert_error(request("GET", system.rest_url + "/ohlc/bad%20symbol"), 400)


def test_prices_are_exact_numbers_in_json(system: RunningSystem) -> None:
    ohlc = wait_for(lambda: (r := request("GET", system.rest_url + "/ohlc/ETHUSDT")).status == 200 and r, timeout=15)
    exact = json.loads(ohlc.body, parse_float=Decimal)
    assert isinstance(exact["volume"], (Decimal, int))
    assert b"e-" not in ohlc.body.lower() and b"00000000001" not in ohlc.body


def test_unknown_route_and_method_are_json_errors(system: RunningSystem) -> None:
    assert_error(request("GET", system.rest_url + "/nope"), 404)
    assert_error(request("GET", system.rest_url + "/add_symbol"), 405)


def test_actor_that_cannot_answer_gives_503(system: RunningSystem) -> None:
    # An answer from the registry means it has started (and told the store what it needed to).
    assert request("GET", system.rest_url + "/symbols").status == 200
    wait_for(lambda: request("GET", system.rest_url + "/ohlc/BTCUSDT").status == 200, timeout=15)
    system.store.stop()
    for path in ("/ohlc/BTCUSDT", "/tick/BTCUSDT"):  # nothing published by a store gone
        assert_error(request("GET", system.rest_url + path), 503)
    assert request("GET", system.rest_url + "/symbols").status == 200, "the rest of the system still answers"
    assert request("GET", system.rest_url + "/candles/BTCUSDT").status == 200, "history is read from disk"


@pytest.fixture
def limited_system(simulator: Simulator) -> Iterator[RunningSystem]:
    running = start_system(settings_for(simulator, rate_limit="5/second"))
    yield running
    running.stop()


def test_rate_limit_is_429_with_retry_after(limited_system: RunningSystem) -> None:
    replies = [request("GET", limited_system.rest_url + "/symbols") for _ in range(12)]
    limited = [r for r in replies if r.status == 429]
    assert limited and replies[0].status == 200
    assert_error(limited[0], 429)
    assert int(limited[0].headers["retry-after"]) >= 1


# A sliding window counts the previous window's requests too, weighted by how much of it is
# still within the last second: two windows on, none is.
WINDOWS_PASSED_S = 2.1


def test_a_long_history_counts_as_more_requests(limited_system: RunningSystem) -> None:
    """At 5 a second: 10 candles count as one request; an hour of candles (3,600, 37 requests'
    worth) takes the whole second's 5, and is refused once anything else came first."""
    url = limited_system.rest_url
    assert [request("GET", url + "/candles/BTCUSDT?limit=10").status for _ in range(5)] == [200] * 5
    assert_error(request("GET", url + "/symbols"), 429)
    time.sleep(WINDOWS_PASSED_S)
    assert request("GET", url + "/candles/BTCUSDT?limit=3600").status == 200
    assert_error(request("GET", url + "/symbols"), 429)
    time.sleep(WINDOWS_PASSED_S)
    assert request("GET", url + "/symbols").status == 200
    refused = assert_error(request("GET", url + "/candles/BTCUSDT?limit=3600"), 429)
    assert "counts as 37" in refused["detail"]


def test_rest_answers_with_descriptors_past_1024(system: RunningSystem, descriptors_past_1024: None) -> None:
    """New REST connections get descriptors select() cannot watch; waitress must poll them instead."""
    for _ in range(3):
        assert request("GET", system.rest_url + "/").status == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /add_symbol HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /add_symbol HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /add_symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
        (b"POST /add_symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET /ohlc/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 300_000 + b"\r\n\r\n", 431),
    ],
)
def test_what_waitress_refuses_itself_is_answered_in_json(
    system: RunningSystem, request_bytes: bytes, status: int
) -> None:
    """A request refused before the app sees it (a bad Content-Length, a body over waitress's
    limit, a malformed request line or header) gets the same JSON error as any other."""
    assert_error(raw_request(system.rest_url, request_bytes), status)
    assert request("GET", system.rest_url + "/symbols").status == 200


IDLE_CONNECTIONS = 1000


def test_an_address_holding_many_idle_connections_is_refused_past_its_share_and_others_are_served(
    system: RunningSystem,
) -> None:
    """1,000 idle connections from one address (a leak, or on purpose) reach waitress's own limit
    of 1,000 unless each address holds at most --rest-max-connections-per-ip: past it, 429 in
    JSON and closed, and another address is served throughout."""
    host, port = system.rest_url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(IDLE_CONNECTIONS)]
    try:
        other = raw_request(system.rest_url, b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.2")
        assert other.status == 200 and other.json["symbols"]
        refused = assert_error(request("GET", system.rest_url + "/symbols"), 429)
        assert "too many open connections" in refused["detail"]
        answered: dict[int, bytes] = {}
        by_descriptor = {connection.fileno(): connection for connection in idle}
        waiting = select.poll()  # poll, not select: the descriptors pass 1024
        for descriptor in by_descriptor:
            waiting.register(descriptor, select.POLLIN)

        def all_past_the_share_answered() -> bool:
            for descriptor, _ in waiting.poll(0):
                waiting.unregister(descriptor)
                answered[descriptor] = by_descriptor[descriptor].recv(4096)
            return len(answered) == IDLE_CONNECTIONS - system.settings.rest_max_connections_per_ip

        wait_for(all_past_the_share_answered)
        assert all(answer.startswith(b"HTTP/1.1 429 ") for answer in answered.values())
    finally:
        for connection in idle:
            connection.close()
    wait_for(lambda: request("GET", system.rest_url + "/symbols").status == 200)


def test_a_websocket_port_taken_lets_the_rest_port_go_again(simulator: Simulator) -> None:
    """The REST port is bound first; a start ended by the WebSocket port must not keep it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            rest_port = probe.getsockname()[1]
        with pytest.raises(ListenError, match=f"127.0.0.1:{taken.getsockname()[1]} for WebSocket"):
            start_system(settings_for(simulator, http_port=rest_port, ws_port=taken.getsockname()[1]))
    with socket.socket() as again:
        again.bind(("127.0.0.1", rest_port))


def test_an_overlong_symbol_is_refused_without_echoing_it_whole(system: RunningSystem) -> None:
    error = assert_error(request("GET", system.rest_url + "/ohlc/" + "A" * 20_000), 400)
    assert error["error"] == "Invalid symbol" and error["detail"] == f"'{'A' * 40}...' is not a symbol"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="process figures come from /proc (Linux)")
def test_health_reports_the_history_kept_and_what_the_process_holds(system: RunningSystem) -> None:
    wait_for(lambda: request("GET", system.rest_url + "/candles/BTCUSDT").json["count"] >= 2, timeout=15)
    kept = sum(
        request("GET", system.rest_url + f"/candles/{s}?limit=3600").json["count"] for s in ("BTCUSDT", "ETHUSDT")
    )
    health = request("GET", system.rest_url + "/health").json
    history = health["history"]
    assert history["written"] >= kept, "what /candles serves was written (revisions are written again)"
    assert (history["engine"], history["dropped"], history["refused"], history["failing"]) == ("sqlite", 0, 0, "")
    process = health["process"]
    rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(process["rss_bytes"] - rss) < 16 << 20, (process["rss_bytes"], rss)
    assert abs(process["threads"] - threading.active_count()) <= 4
    assert abs(process["open_files"] - len(os.listdir("/proc/self/fd"))) <= 8
