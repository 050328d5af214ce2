"""The REST API over a real socket: shapes, limits and Binance's error replies."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from candlecast.market_data import Trade
from candlecast.sim import Simulator
from candlecast.upstream import exchange_info
from tests.clients import wait_for
from tests.sim.conftest import now_ms, wait_for_trades

OFFSET_MS = 90_000


@pytest.fixture
def sim(make_sim: Any) -> Simulator:
    return make_sim(symbols=("BTCUSDT", "ETHUSDT"), trades_per_second=40.0, time_offset_ms=OFFSET_MS)


def get(sim: Simulator, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(sim.rest_url + path, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def trade_of(row: dict[str, Any]) -> Trade:
    return Trade("BTCUSDT", row["id"], Decimal(row["price"]), Decimal(row["qty"]), row["time"], row["isBuyerMaker"])


def test_ping_and_time_on_the_exchange_clock(sim: Simulator) -> None:
    assert get(sim, "/api/v3/ping") == (200, {})
    before = now_ms(OFFSET_MS)
    status, body = get(sim, "/api/v3/time")
    assert status == 200 and before <= body["serverTime"] <= now_ms(OFFSET_MS)


def test_exchange_info_lists_trading_and_break_symbols(sim: Simulator) -> None:
    status, info = get(sim, "/api/v3/exchangeInfo")
    assert status == 200
    assert {"timezone", "serverTime", "rateLimits", "symbols"} <= set(info)
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert len(by_symbol) >= 20
    assert {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT", "XRPETH"} <= set(
        by_symbol
    )
    assert by_symbol["LUNAUSDT"]["status"] == "BREAK"
    assert "LUNAUSDT" not in exchange_info.trading_symbols(json.dumps(info).encode())
    btc = by_symbol["BTCUSDT"]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    status, one = get(sim, "/api/v3/exchangeInfo?symbol=ETHUSDT")
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]


def test_trade_endpoints_serve_the_record(sim: Simulator) -> None:
    wait_for_trades(sim, "BTCUSDT", 60)
    check_recent_trades(sim)
    check_historical_trades(sim)
    check_agg_trades(sim)
    assert len(get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=5000")[1]) <= 1000
    assert get(sim, "/api/v3/trades?symbol=LUNAUSDT") == (200, [])
    assert get(sim, "/api/v3/trades?symbol=SOLUSDT") == (200, []), "listed but not trading in this run"


def check_recent_trades(sim: Simulator) -> None:
    status, rows = get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=20")
    record = sim.trades("BTCUSDT")
    assert status == 200 and len(rows) == 20
    trades = [trade_of(row) for row in rows]
    assert trades == [t for t in record if trades[0].trade_id <= t.trade_id <= trades[-1].trade_id]
    assert [t.trade_id for t in trades] == list(range(trades[0].trade_id, trades[0].trade_id + 20))
    before = len(sim.trades("BTCUSDT"))
    served = len(get(sim, "/api/v3/trades?symbol=BTCUSDT")[1])  # the market trades meanwhile
    assert min(500, before) <= served <= min(500, len(sim.trades("BTCUSDT"))), "default limit 500"


def check_historical_trades(sim: Simulator) -> None:
    record = sim.trades("BTCUSDT")
    status, rows = get(sim, f"/api/v3/historicalTrades?symbol=BTCUSDT&fromId={record[5].trade_id}&limit=10")
    assert status == 200
    assert [trade_of(row) for row in rows] == list(record[5:15])


def check_agg_trades(sim: Simulator) -> None:
    record = sim.trades("BTCUSDT")
    status, rows = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={record[0].time}&limit=1000")
    assert status == 200
    record = sim.trades("BTCUSDT")  # read again: trades made while the request was served
    covered = [t for row in rows for t in record if row["f"] <= t.trade_id <= row["l"]]
    assert covered == list(record[: len(covered)])
    for row in rows:
        group = [t for t in record if row["f"] <= t.trade_id <= row["l"]]
        assert {(t.price, t.time, t.buyer_is_maker) for t in group} == {(Decimal(row["p"]), row["T"], row["m"])}
        assert sum(t.quantity for t in group) == Decimal(row["q"])
    assert any(row["l"] > row["f"] for row in rows), "bursts give multi-trade aggregates"
    second = rows[1]["a"]
    assert get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={second}&limit=2")[1] == rows[1:3]


def test_a_long_run_keeps_only_the_newest_trades(make_sim: Any) -> None:
    sim = make_sim(symbols=("BTCUSDT",), trades_per_second=200.0, kept_trades=40)
    first_id = wait_for_trades(sim, "BTCUSDT", 1)[0].trade_id
    kept = wait_for(lambda: (trades := sim.trades("BTCUSDT"))[-1].trade_id > first_id + 200 and trades)
    assert 40 <= len(kept) <= 50, "forgotten in steps of a quarter of the limit"
    assert [t.trade_id for t in kept] == list(range(kept[0].trade_id, kept[0].trade_id + len(kept)))
    status, rows = get(sim, f"/api/v3/historicalTrades?symbol=BTCUSDT&fromId={first_id}&limit=5")
    assert status == 200 and rows[0]["id"] >= kept[0].trade_id > first_id, "from the oldest still kept"


ERRORS = [
    ("/api/v3/trades", 400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
    ("/api/v3/trades?symbol=NOPEUSDT", 400, -1121, "Invalid symbol."),
    ("/api/v3/exchangeInfo?symbol=NOPEUSDT", 400, -1121, "Invalid symbol."),
    ("/api/v3/trades?symbol=btc%20usdt", 400, -1100, "Illegal characters found in parameter 'symbol'"),
    ("/api/v3/trades?symbol=BTCUSDT&limit=ten", 400, -1100, "Illegal characters found in parameter 'limit'"),
    ("/api/v3/trades?symbol=BTCUSDT&limit=0", 400, -1130, "Invalid data sent for a parameter."),
    ("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=-5", 400, -1100, "Illegal characters found in parameter 'fromId'"),
    (
        "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=1",
        400,
        -1128,
        "Combination of optional parameters invalid.",
    ),
    ("/api/v3/aggTrades", 400, -1102, "Mandatory parameter 'symbol'"),
]


def test_errors_are_binance_shaped(sim: Simulator) -> None:
    for path, status, code, msg in ERRORS:
        got_status, body = get(sim, path)
        assert (got_status, body["code"]) == (status, code), path
        assert body["msg"].startswith(msg), path
