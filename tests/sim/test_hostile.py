"""The simulator's hostile mode, seen over real sockets: the stream lies while REST and the
record keep the truth, frames built to break parsers arrive and the connection stays, and
REST answers are malformed exactly as asked."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.sim.hostile import BAD_NUMBERS, EXCHANGE_INFO, NOT_JSON, SERVER_TIME, shift_ms
from candlecast.sim.malformed import HOSTILE_KINDS, NESTING_DEPTH, OVERSIZED_BYTES
from tests.clients import request
from tests.sim.conftest import connect, now_ms, trade_of

COMBINED_BTC = "/stream?streams=btcusdt@trade"
CORRUPTIONS = [
    *(f"{field}:{value}" for field in ("price", "quantity") for value in BAD_NUMBERS),
    "symbol:ETHUSDT",
    "time:+20s",
    "time:+3y",
    "time:-60s",
]


def stream_events(ws: websocket.WebSocket, count: int) -> list[dict[str, Any]]:
    """The next ``count`` trade events, read as raw JSON (a lie must not be parsed away)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        frame = json.loads(ws.recv())
        if "data" in frame:
            events.append(frame["data"])
    return events


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupted_trades_lie_on_the_stream_and_rest_keeps_the_truth(make_sim: Any, kind: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=30.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        (before,) = stream_events(ws, 1)
        sim.corrupt_trades("btcusdt", 3, kind)
        events = stream_events(ws, 40)
    finally:
        ws.close()
    assert [e["t"] for e in events] == list(range(before["t"] + 1, before["t"] + 41)), "no trade is withheld"
    field, _, value = kind.partition(":")
    truth = {t.trade_id: t for t in sim.trades("BTCUSDT")}
    key = {"price": "p", "quantity": "q", "symbol": "s", "time": "T"}[field]
    lied = [e for e in events if e[key] != _true_field(truth[e["t"]], field)]
    ids = [e["t"] for e in lied]
    assert ids == list(range(ids[0], ids[0] + 3)), f"exactly the next three trades lie: {ids}"
    for event in lied:
        true = _true_field(truth[event["t"]], field)
        assert event[key] == (true + shift_ms(value) if field == "time" else value)
    honest = [e for e in events if e not in lied]
    assert all(trade_of(e) == truth[e["t"]] for e in honest)
    rows = request("GET", f"{sim.rest_url}/api/v3/historicalTrades?symbol=BTCUSDT&fromId={lied[0]['t']}&limit=3").json
    for row, event in zip(rows, lied, strict=True):
        trade = truth[event["t"]]
        assert (row["id"], Decimal(row["price"]), Decimal(row["qty"]), row["time"]) == (
            trade.trade_id,
            trade.price,
            trade.quantity,
            trade.time,
        )


def _true_field(trade: Any, field: str) -> Any:
    """The field as Binance writes it for the true trade."""
    match field:
        case "price":
            return f"{trade.price:.8f}"
        case "quantity":
            return f"{trade.quantity:.8f}"
        case "symbol":
            return trade.symbol
    return trade.time


def test_only_the_next_trades_lie_and_in_the_order_asked(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=30.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        stream_events(ws, 1)
        sim.corrupt_trades("BTCUSDT", 1, "price:NaN")
        sim.corrupt_trades("BTCUSDT", 1, "time:-60s")
        first, second, third = stream_events(ws, 3)
    finally:
        ws.close()
    truth = {t.trade_id: t for t in sim.trades("BTCUSDT")}
    assert first["p"] == "NaN" and first["T"] == truth[first["t"]].time
    assert second["T"] == truth[second["t"]].time - 60_000 and Decimal(second["p"]) == truth[second["t"]].price
    assert trade_of(third) == truth[third["t"]]


@pytest.mark.parametrize("kind", ["price", "volume:1", "time:soon", "time:+20", "symbol:", "size:NaN"])
def test_an_unknown_corruption_is_refused(make_sim: Any, kind: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    with pytest.raises(ValueError):
        sim.corrupt_trades("BTCUSDT", 1, kind)


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_hostile_frames_arrive_and_the_stream_goes_on(make_sim: Any, kind: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=20.0)
    ws = connect(sim.stream_url + COMBINED_BTC)
    try:
        (before,) = stream_events(ws, 1)
        sim.send_malformed(1, kinds=(kind,))
        hostile = None
        while hostile is None:
            text = ws.recv()
            if len(text) > OVERSIZED_BYTES or "[" * 100 in text:
                hostile = text
            else:
                assert json.loads(text)["data"]["t"] > before["t"]
        (after,) = stream_events(ws, 1)
    finally:
        ws.close()
    if kind == "nested":
        assert hostile.count("[") == NESTING_DEPTH and hostile.count("]") == NESTING_DEPTH
        with pytest.raises(RecursionError):
            json.loads(hostile)
    else:
        event = msgspec.json.decode(hostile)["data"]
        assert event["e"] == "padding" and len(event["x"]) == OVERSIZED_BYTES
    assert after["t"] > before["t"]


def test_server_time_can_be_skewed_and_set_back(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), server_time_skew_ms=20_000)
    assert abs(request("GET", sim.rest_url + SERVER_TIME).json["serverTime"] - now_ms() - 20_000) < 1_000
    sim.skew_server_time(-5_000)
    assert abs(request("GET", sim.rest_url + SERVER_TIME).json["serverTime"] - now_ms() + 5_000) < 1_000
    sim.skew_server_time(0)
    assert abs(request("GET", sim.rest_url + SERVER_TIME).json["serverTime"] - now_ms()) < 1_000


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("not_json", lambda body: body == NOT_JSON),
        ("cut", lambda body: body.startswith(b'{"serverTime":') and not body.endswith(b"}")),
        ("no_server_time", lambda body: json.loads(body) == {}),
        ("string", lambda body: isinstance(json.loads(body)["serverTime"], str)),
        ("nan", lambda body: math.isnan(json.loads(body)["serverTime"])),
        ("offset:-3600000", lambda body: abs(json.loads(body)["serverTime"] - now_ms() + 3_600_000) < 1_000),
    ],
)
def test_server_time_answers_are_malformed_as_asked_then_true_again(make_sim: Any, kind: str, check: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    sim.malform_rest(SERVER_TIME, kind, count=2)
    for _ in range(2):
        reply = request("GET", sim.rest_url + SERVER_TIME)
        assert reply.status == 200 and check(reply.body), reply.body[:200]
    assert abs(request("GET", sim.rest_url + SERVER_TIME).json["serverTime"] - now_ms()) < 1_000


def trading(document: dict[str, Any]) -> dict[str, str]:
    return {s["symbol"]: s["status"] for s in document["symbols"]}


def test_exchange_info_answers_are_malformed_as_asked_then_true_again(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    url = sim.rest_url + EXCHANGE_INFO
    true = trading(request("GET", url).json)
    for kind in ("not_json", "cut", "symbols_not_list", "break:BTCUSDT", "without:ETHUSDT"):
        sim.malform_rest(EXCHANGE_INFO, kind)
    assert request("GET", url).body == NOT_JSON
    with pytest.raises(json.JSONDecodeError):
        _ = request("GET", url).json
    assert isinstance(request("GET", url).json["symbols"], dict)
    assert trading(request("GET", url).json) == {**true, "BTCUSDT": "BREAK"}
    assert trading(request("GET", url).json) == {s: status for s, status in true.items() if s != "ETHUSDT"}
    assert trading(request("GET", url).json) == true


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (SERVER_TIME, "symbols_not_list"),
        (EXCHANGE_INFO, "nan"),
        (EXCHANGE_INFO, "break:"),
        (SERVER_TIME, "offset:soon"),
        ("/api/v3/trades", "not_json"),
    ],
)
def test_an_answer_fault_a_path_cannot_have_is_refused(make_sim: Any, path: str, kind: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    with pytest.raises(ValueError):
        sim.malform_rest(path, kind)


@pytest.mark.parametrize("retry_after", ["inf", "nan", "-5", "1e12", "", "garbage"])
@pytest.mark.parametrize("status", [429, 418])
def test_odd_retry_after_goes_out_verbatim_on_any_path(make_sim: Any, retry_after: str, status: int) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    paths = frozenset({SERVER_TIME, EXCHANGE_INFO, "/api/v3/aggTrades"})
    sim.fail_rest(status=status, retry_after_s=retry_after, count=3, paths=paths)
    assert request("GET", sim.rest_url + "/api/v3/historicalTrades?symbol=BTCUSDT").status == 200, "not among paths"
    for path in (SERVER_TIME, EXCHANGE_INFO, "/api/v3/aggTrades?symbol=BTCUSDT"):
        reply = request("GET", sim.rest_url + path)
        assert reply.status == status and reply.headers["retry-after"] == retry_after
        assert reply.json["code"] == -1003
    assert request("GET", sim.rest_url + SERVER_TIME).status == 200
    assert sim.stats().rest_requests[SERVER_TIME] == 2, "refused requests are counted too"
