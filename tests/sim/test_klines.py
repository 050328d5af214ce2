"""The simulator's klines over a real socket: every interval and time zone equals a brute-force
aggregation of the simulator's own trade record, bars are selected as Binance selects them,
errors and weight are Binance's, and the hostile answers come as asked."""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from binance.spot import Spot

from candlecast.history.intervals import INTERVALS
from candlecast.history.klines import KLINES, UI_KLINES
from candlecast.market_data import Trade
from candlecast.sim import ReplaySource, Simulator
from tests.clients import request, wait_for, wait_for_at_least
from tests.sim.conftest import DATA_DIR, FREQTRADE_FILE, now_ms, wait_for_trades

# A Sunday that ends a month and a year: every interval from 1s to 1M has a boundary here.
NEW_YEAR_MS = int(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC).timestamp() * 1000)
REPLAYED = 10
TIME_ZONES = ("0", "8", "-1:00", "05:45")
RECORDED_KLINES = DATA_DIR / "rest" / "nautilus_spot_klines_1m_btcusdt_2021-10-22.json"
Bar = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, int, Decimal, int, Decimal, Decimal]


def get(sim: Simulator, path: str) -> Any:
    reply = request("GET", sim.rest_url + path)
    assert reply.status == 200, reply.body[:300]
    return reply.json


def bar_of(row: list[Any]) -> Bar:
    """A row read with nothing of ours: the 11 meaningful fields, decimals as Decimal."""
    assert len(row) == 12 and row[11] == "0"
    opened, high, low, close, volume = (Decimal(value) for value in row[1:6])
    return (
        row[0],
        opened,
        high,
        low,
        close,
        volume,
        row[6],
        Decimal(row[7]),
        row[8],
        Decimal(row[9]),
        Decimal(row[10]),
    )


def bar_bounds(name: str, time_ms: int, offset_ms: int) -> tuple[int, int]:
    """Open time and the next bar's open time of the ``name`` bar holding ``time_ms``, with local
    time UTC + ``offset_ms``: worked out with calendar arithmetic, not with ``Interval``."""
    local = datetime.datetime.fromtimestamp((time_ms + offset_ms) // 1000, datetime.UTC)
    if name in {"1M", "1w"}:
        day = datetime.datetime(local.year, local.month, local.day, tzinfo=datetime.UTC)
        if name == "1M":
            start = day.replace(day=1)
            after = (start + datetime.timedelta(days=32)).replace(day=1)
        else:
            start = day - datetime.timedelta(days=local.weekday())
            after = start + datetime.timedelta(days=7)
        return int(start.timestamp()) * 1000 - offset_ms, int(after.timestamp()) * 1000 - offset_ms
    unit = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[name[-1]]
    length = int(name[:-1]) * unit
    start_ms = (time_ms + offset_ms) // length * length - offset_ms
    return start_ms, start_ms + length


def brute_force_bars(trades: tuple[Trade, ...], name: str, offset_ms: int, end_ms: int) -> list[Bar]:
    """Every ``name`` bar opening up to ``end_ms`` from the first trade's second on, straight from
    the trades as Binance makes a kline: open, high, low and close of the trades inside, and flat
    at the previous close when there are none."""
    first_s = trades[0].time // 1000
    bars: list[Bar] = []
    second = first_s
    while second * 1000 <= end_ms:
        start_ms, after_ms = bar_bounds(name, second * 1000, offset_ms)
        inside = [t for t in trades if second * 1000 <= t.time < after_ms]
        before = [t.price for t in trades if t.time < second * 1000][-1:]
        prices = [t.price for t in inside] or before
        buys = [t for t in inside if not t.buyer_is_maker]
        bars.append(
            (
                start_ms,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                sum((t.quantity for t in inside), Decimal(0)),
                after_ms - 1,
                sum((t.price * t.quantity for t in inside), Decimal(0)),
                len(inside),
                sum((t.quantity for t in buys), Decimal(0)),
                sum((t.price * t.quantity for t in buys), Decimal(0)),
            )
        )
        second = after_ms // 1000
    return bars


@pytest.fixture
def new_year(make_sim: Any, trades_dir: Path) -> tuple[Simulator, tuple[Trade, ...]]:
    """A replay of recorded XRPETH trades, quiet seconds kept, across 2024-01-01 00:00 UTC; done."""
    source = ReplaySource(trades_dir / FREQTRADE_FILE, limit_trades=REPLAYED, max_quiet_seconds=1)
    sim = make_sim(symbols=("XRPETH",), replay=source, time_offset_ms=NEW_YEAR_MS - 6_000 - now_ms())
    trades = tuple(wait_for_at_least(REPLAYED, lambda: sim.trades("XRPETH"), timeout=30))
    assert trades[0].time < NEW_YEAR_MS < trades[-1].time
    return sim, trades


def test_every_interval_and_time_zone_equals_a_brute_force_of_the_trade_record(
    new_year: tuple[Simulator, tuple[Trade, ...]],
) -> None:
    sim, trades = new_year
    end_ms = trades[-1].time + 1_500
    wait_for(lambda: get(sim, "/api/v3/time")["serverTime"] > end_ms, interval=0.2)
    for name in INTERVALS:
        for zone in TIME_ZONES:
            query = f"?symbol=XRPETH&interval={name}&startTime=0&endTime={end_ms}&timeZone={zone}&limit=1000"
            expected = brute_force_bars(trades, name, zone_ms(zone), end_ms)
            rows = get(sim, KLINES + query)
            assert [bar_of(row) for row in rows] == expected, (name, zone)
            assert get(sim, UI_KLINES + query) == rows
    seconds = get(sim, f"{KLINES}?symbol=XRPETH&interval=1s&startTime=0&endTime={end_ms}")
    assert any(row[8] == 0 for row in seconds), "the replay keeps quiet seconds, served flat"
    _, january = brute_force_bars(trades, "1M", 0, end_ms)
    first_of_january = next(trade for trade in trades if trade.time >= NEW_YEAR_MS)
    assert first_of_january.time >= NEW_YEAR_MS + 1_000, "the year opens on a quiet second"
    assert january[0] == NEW_YEAR_MS and january[1] == first_of_january.price, "and at its first trade"


def zone_ms(zone: str) -> int:
    hours, _, minutes = zone.partition(":")
    sign = -1 if hours.startswith("-") else 1
    return sign * (abs(int(hours)) * 3_600_000 + int(minutes or 0) * 60_000)


def test_bars_are_selected_as_binance_selects_them(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), trades_per_second=5.0)
    first = wait_for_trades(sim, "BTCUSDT", 1)[0].time // 1000 * 1000
    wait_for(lambda: now_ms() > first + 6_000, timeout=15)
    end = first + 4_500

    def open_times(query: str) -> list[int]:
        return [row[0] for row in get(sim, f"{KLINES}?symbol=BTCUSDT&interval=1s{query}")]

    assert open_times(f"&endTime={end}&limit=3") == [first + 2_000, first + 3_000, first + 4_000]
    assert open_times(f"&startTime={first + 1}&limit=2") == [first + 1_000, first + 2_000]
    assert open_times(f"&startTime={first + 1_000}&endTime={end}") == [first + 1_000 * n for n in range(1, 5)]
    assert open_times("&startTime=0&limit=1") == [first], "the earliest bar, as clients look it up"
    assert open_times(f"&startTime={end}&endTime={first}") == []
    newest = open_times("&limit=4")
    assert len(newest) == 4 and newest[-1] > end
    assert newest == list(range(newest[0], newest[0] + 4_000, 1_000)), "every second, traded or flat"


@pytest.mark.parametrize(
    ("query", "code", "msg"),
    [
        ("interval=1m", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        ("symbol=BTCUSDT", -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."),
        ("symbol=NOPEUSDT&interval=1m", -1121, "Invalid symbol."),
        (
            "symbol=btc%20usdt&interval=1m",
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9\\-_.]{1,20}$'.",
        ),
        ("symbol=BTCUSDT&interval=1H", -1120, "Invalid interval."),
        ("symbol=BTCUSDT&interval=2s", -1120, "Invalid interval."),
        (
            "symbol=BTCUSDT&interval=1m&startTime=-5",
            -1100,
            "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "symbol=BTCUSDT&interval=1m&endTime=None",
            -1100,
            "Illegal characters found in parameter 'endTime'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "symbol=BTCUSDT&interval=1m&limit=1.5",
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        ("symbol=BTCUSDT&interval=1m&limit=1001", -1130, "Data sent for parameter 'limit' is not valid."),
        ("symbol=BTCUSDT&interval=1m&limit=0", -1130, "Data sent for parameter 'limit' is not valid."),
        ("symbol=BTCUSDT&interval=1m&timeZone=15", -1130, "Data sent for parameter 'timeZone' is not valid."),
        ("symbol=BTCUSDT&interval=1m&timeZone=UTC", -1130, "Data sent for parameter 'timeZone' is not valid."),
        ("symbol=BTCUSDT&interval=1m&interval=1h", -1101, "Duplicate values for a parameter detected."),
        (
            "symbol=BTCUSDT&interval=1m&start_time=1",
            -1104,
            "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.",
        ),
    ],
)
def test_bad_requests_get_binances_errors(make_sim: Any, query: str, code: int, msg: str) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    for path in (KLINES, UI_KLINES):
        reply = request("GET", f"{sim.rest_url}{path}?{query}")
        assert (reply.status, reply.json) == (400, {"code": code, "msg": msg})


def test_each_request_weighs_two(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",), weight_limit_1m=5)
    wait_for(lambda: sim.stats().weight_used_1m == 0 and now_ms() % 60_000 < 50_000, timeout=15)
    used = [request("GET", f"{sim.rest_url}{path}?symbol=BTCUSDT&interval=1m") for path in (KLINES, UI_KLINES)]
    assert [reply.headers["x-mbx-used-weight-1m"] for reply in used] == ["2", "4"]
    refused = request("GET", f"{sim.rest_url}{KLINES}?symbol=BTCUSDT&interval=1m")
    assert refused.status == 429 and refused.json["code"] == -1003 and "retry-after" in refused.headers
    assert sim.stats().rest_requests == {KLINES: 2, UI_KLINES: 1}


def test_faults_come_as_asked_then_the_truth_again(make_sim: Any) -> None:
    sim: Simulator = make_sim(symbols=("BTCUSDT",))
    wait_for_trades(sim, "BTCUSDT", 1)
    url = f"{sim.rest_url}{KLINES}?symbol=BTCUSDT&interval=1h"
    for kind in ("not_json", "cut", "short_rows", "bad_price", "numbers"):
        sim.malform_rest(KLINES, kind)
    assert request("GET", url).body.startswith(b"<html>")
    with pytest.raises(json.JSONDecodeError):
        _ = request("GET", url).json
    assert [len(row) for row in request("GET", url).json] == [11]
    assert request("GET", url).json[0][1] == "not-a-price"
    assert all(isinstance(value, int | float) for value in request("GET", url).json[0])
    truth = request("GET", url).json
    assert [len(row) for row in truth] == [12] and isinstance(truth[0][1], str)
    sim.fail_rest(status=418, retry_after_s=30, paths=frozenset({KLINES}))
    banned = request("GET", url)
    assert (banned.status, banned.headers["retry-after"], banned.json["code"]) == (418, "30", -1003)


def field_types(row: list[Any]) -> list[type]:
    return [type(value) for value in row]


def test_a_binance_client_reads_the_same_rows_as_binance_shapes_them(
    new_year: tuple[Simulator, tuple[Trade, ...]],
) -> None:
    sim, trades = new_year
    recorded = json.loads(RECORDED_KLINES.read_text())
    client = Spot(base_url=sim.rest_url, timeout=5)
    assert client.ping() == {}
    server_time = client.time()["serverTime"]
    assert trades[-1].time < server_time <= get(sim, "/api/v3/time")["serverTime"]
    assert [s["symbol"] for s in client.exchange_info(symbol="XRPETH")["symbols"]] == ["XRPETH"]
    rows = client.klines("XRPETH", "1m", startTime=0, endTime=trades[-1].time, timeZone="0")
    assert rows == get(sim, f"{KLINES}?symbol=XRPETH&interval=1m&startTime=0&endTime={trades[-1].time}")
    assert client.ui_klines("XRPETH", "1m", startTime=0, endTime=trades[-1].time) == rows
    eight_decimals = re.compile(r"^[0-9]+\.[0-9]{8,}$")
    for row in rows:
        assert field_types(row) == field_types(recorded[0])
        assert all(eight_decimals.match(row[i]) for i in (1, 2, 3, 4, 5, 7, 9, 10))
    assert all(eight_decimals.match(row[i]) for row in recorded for i in (1, 2, 3, 4, 5, 7, 9, 10))
