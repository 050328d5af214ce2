"""candlecast's Binance-shaped API over the embedded candle store: klines as Binance selects them,
its errors, exchangeInfo of the subscribed symbols, and a Binance client library that reads the
same rows from candlecast as from the exchange the candles came from."""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import pytest
from binance.spot import Spot

from candlecast.candles.series import empty_candle
from candlecast.history.engines import open_store
from candlecast.history.intervals import INTERVALS
from candlecast.history.klines import KLINES, UI_KLINES, row
from candlecast.history.rollup import roll_up
from candlecast.history.sqlite import SqliteStore
from candlecast.history.store import CandleStore
from candlecast.http import binance_api, errors
from candlecast.http.waitress_thread import WaitressThread
from candlecast.market_data import Candle
from candlecast.sim import ReplaySource
from candlecast.upstream.exchange_info import trading_entries
from tests.clients import request, wait_for, wait_for_at_least
from tests.conftest import make_simulator
from tests.reference import reference_candles

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance"
RECORDED_KLINES = DATA_DIR / "rest" / "nautilus_spot_klines_1m_btcusdt_2021-10-22.json"
RECORDED_INFO = DATA_DIR / "exchangeInfo_spot_2021-10-12.json"
XRPETH_TRADES = DATA_DIR / "trades" / "freqtrade_XRPETH_trades_2019-10-11_13.csv"
NEW_YEAR_MS = int(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC).timestamp() * 1000)
NOW_MS = 1_700_000_000_000


def require(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"recorded Binance data not found at {path.resolve()} (the 'shared' folder beside the clone)")
    return path


def recorded(path: Path) -> bytes:
    return require(path).read_bytes()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CandleStore]:
    opened = open_store("", tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def seconds() -> list[Candle]:
    """Two minutes of XRPETH's recorded trades as 1 s candles, quiet seconds flat, from 23:59 on 2023-12-31."""
    trades = ReplaySource(require(XRPETH_TRADES), limit_trades=40, max_quiet_seconds=3).trades_from(
        NEW_YEAR_MS - 60_000
    )
    return reference_candles(trades, trades[0].time // 1000, trades[-1].time // 1000 + 5)


def app_for(store: CandleStore, subscribed: tuple[str, ...], entries: dict[str, Any] | None = None) -> falcon.App:
    app = falcon.App()
    binance_api.add_routes(
        app, store=store, subscribed=lambda: subscribed, entries=lambda: entries or {}, now_ms=lambda: NOW_MS
    )
    return app


def get(client: falcon.testing.TestClient, path: str, query: str = "") -> tuple[int, Any]:
    result = client.simulate_get(path, query_string=query)
    return result.status_code, result.json


def test_every_interval_is_the_roll_up_of_the_stored_seconds(store: CandleStore, seconds: list[Candle]) -> None:
    store.write(seconds)
    client = falcon.testing.TestClient(app_for(store, ("XRPETH",)))
    for name, interval in INTERVALS.items():
        for zone, offset in (("0", 0), ("-3:30", -12_600_000), ("14", 50_400_000)):
            expected = [row(bar) for bar in roll_up(seconds, interval, offset)]
            query = f"symbol=XRPETH&interval={name}&timeZone={zone}&startTime=0&limit=1000"
            assert get(client, KLINES, query) == (200, expected), (name, zone)
            assert get(client, UI_KLINES, query) == (200, expected)


def test_bars_are_selected_as_binance_selects_them(store: CandleStore, seconds: list[Candle]) -> None:
    store.write(seconds)
    client = falcon.testing.TestClient(app_for(store, ("XRPETH",)))
    times = [candle.open_time for candle in seconds]

    def open_times(query: str) -> list[int]:
        status, rows = get(client, KLINES, "symbol=XRPETH&interval=1s" + query)
        assert status == 200
        return [r[0] for r in rows]

    assert open_times("&limit=3") == times[-3:], "no times: the newest"
    assert open_times(f"&endTime={times[10] + 999}&limit=3") == times[8:11]
    assert open_times(f"&startTime={times[10] - 1}&limit=2") == times[10:12]
    assert open_times(f"&startTime={times[10] + 1}&endTime={times[14]}") == times[11:15]
    assert open_times("&startTime=0&limit=1") == times[:1], "the earliest bar, as clients look it up"
    assert open_times(f"&startTime={times[14]}&endTime={times[10]}") == []
    assert open_times(f"&startTime={times[-1] + 1}") == []
    assert open_times(f"&endTime={times[-1] + 10**12}&limit=1") == times[-1:], "the future is now"


def test_errors_are_binances(store: CandleStore, seconds: list[Candle]) -> None:
    store.write(seconds)
    client = falcon.testing.TestClient(app_for(store, ("BTCUSDT", "XRPETH")))
    assert get(client, KLINES, "symbol=ETHUSDT&interval=1m") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert get(client, KLINES, "symbol=BTCUSDT&interval=1m") == (200, []), "subscribed, nothing stored yet"
    assert get(client, KLINES, "symbol=XRPETH&interval=7m") == (400, {"code": -1120, "msg": "Invalid interval."})
    assert get(client, UI_KLINES, "symbol=XRPETH&interval=1m&limit=5000") == (
        400,
        {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."},
    )
    unsubscribed = falcon.testing.TestClient(app_for(store, ("BTCUSDT",)))
    assert get(unsubscribed, KLINES, "symbol=XRPETH&interval=1d") == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    ), "stored, but no longer subscribed: as exchangeInfo and GET /candles have it"


def test_exchange_info_lists_the_subscribed_symbols_as_the_exchange_describes_them(store: CandleStore) -> None:
    entries = trading_entries(recorded(RECORDED_INFO))
    client = falcon.testing.TestClient(app_for(store, ("ETHBTC", "BTCUSDT", "NEWCOIN"), entries))
    status, info = get(client, "/api/v3/exchangeInfo")
    assert status == 200 and info["serverTime"] == NOW_MS and info["timezone"] == "UTC"
    assert info["symbols"] == [entries["BTCUSDT"], entries["ETHBTC"], {"symbol": "NEWCOIN", "status": "TRADING"}]
    assert info["symbols"][0]["baseAsset"] == "BTC" and info["symbols"][0]["filters"]
    assert [s["symbol"] for s in get(client, "/api/v3/exchangeInfo", "symbol=ETHBTC")[1]["symbols"]] == ["ETHBTC"]
    _, chosen = get(client, "/api/v3/exchangeInfo", 'symbols=["ETHBTC","BTCUSDT"]')
    assert [s["symbol"] for s in chosen["symbols"]] == ["BTCUSDT", "ETHBTC"]
    assert get(client, "/api/v3/exchangeInfo", "symbol=BNBBTC") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert get(client, "/api/v3/exchangeInfo", "symbols=ETHBTC")[1]["code"] == -1135
    assert get(client, "/api/v3/exchangeInfo", 'symbol=ETHBTC&symbols=["ETHBTC"]')[1]["code"] == -1128
    assert get(client, "/api/v3/time") == (200, {"serverTime": NOW_MS})
    assert get(client, "/api/v3/ping") == (200, {})


@pytest.fixture
def replayed() -> Iterator[Any]:
    """A simulator that has replayed recorded XRPETH trades across 2024-01-01 00:00 UTC, and its trades."""
    source = ReplaySource(require(XRPETH_TRADES), limit_trades=10, max_quiet_seconds=1)
    offset = NEW_YEAR_MS - 6_000 - datetime.datetime.now(datetime.UTC).timestamp() * 1000
    sim = make_simulator(symbols=("XRPETH",), replay=source, time_offset_ms=int(offset))
    sim.start()
    try:
        yield sim, tuple(wait_for_at_least(10, lambda: sim.trades("XRPETH"), timeout=30))
    finally:
        sim.stop()


def test_a_binance_client_reads_from_candlecast_what_the_exchange_serves(replayed: Any, store: CandleStore) -> None:
    sim, trades = replayed
    last_s = trades[-1].time // 1000 + 2
    wait_for(lambda: request("GET", sim.rest_url + "/api/v3/time").json["serverTime"] > last_s * 1000 + 1_000)
    store.write(reference_candles(trades, trades[0].time // 1000, last_s))
    server = WaitressThread(app=app_for(store, ("XRPETH",)), host="127.0.0.1", port=0, name="binance-api")
    server.start()
    try:
        exchange = Spot(base_url=sim.rest_url, timeout=5)
        candlecast = Spot(base_url=f"http://127.0.0.1:{server.port}", timeout=5)
        assert candlecast.ping() == {} and candlecast.time() == {"serverTime": NOW_MS}
        shape = [type(value) for value in json.loads(recorded(RECORDED_KLINES))[0]]
        for name in INTERVALS:
            for zone in ("0", "8", "-1:00"):
                asked = {"startTime": 0, "endTime": last_s * 1000, "timeZone": zone, "limit": 1000}
                served = candlecast.klines("XRPETH", name, **asked)
                assert served == exchange.klines("XRPETH", name, **asked), (name, zone)
                assert candlecast.ui_klines("XRPETH", name, **asked) == served
                assert all([type(value) for value in r] == shape for r in served)
    finally:
        server.stop()


def test_a_store_that_cannot_be_read_is_503_not_500(tmp_path: Path) -> None:
    broken = SqliteStore(tmp_path / "candles.sqlite3")
    broken.write([empty_candle("BTCUSDT", 1_795_836_600, Decimal("43000"))])
    with sqlite3.connect(tmp_path / "candles.sqlite3") as other:
        other.execute("DROP TABLE candles")  # another process broke the file
    app = falcon.App()
    errors.install(app)
    binance_api.add_routes(app, store=broken, subscribed=lambda: ("BTCUSDT",), entries=dict, now_ms=lambda: 0)
    try:
        result = falcon.testing.TestClient(app).simulate_get(
            "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}
        )
    finally:
        broken.close()
    assert result.status_code == 503, result.text
    assert result.json["detail"] == "the candle history cannot be read: OperationalError"
