"""Every REST route through Falcon's test client: the app answers in-process, without a server
socket, from real actors (store, broadcaster, backfill, clock and a registry reading the
simulator's exchangeInfo). Candles and trades are told to the store, so their answers are exact."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import falcon.testing
import msgspec
import pykka
import pytest

from candlecast.candles.series import empty_candle
from candlecast.http.resources import Actors
from candlecast.market_data import Trade, TradesArrived
from candlecast.messages.store import Barrier
from candlecast.messages.symbols import SymbolActivated
from candlecast.settings import Settings
from candlecast.sim import Simulator
from candlecast.system import app_for, client_reader, start_core
from tests.clients import wait_for
from tests.conftest import closed_port, settings_for

SYMBOL = "BTCUSDT"
SECOND = 1_795_836_601
MAX_BODY_BYTES = 1024


@dataclasses.dataclass(frozen=True)
class Rest:
    client: falcon.testing.TestClient
    actors: Actors

    def candle_of(self, second: int, close: str) -> None:
        self.actors.store.tell(
            msgspec.structs.replace(empty_candle(SYMBOL, second, Decimal(close)), trades=1, first_trade_id=second)
        )

    def settled(self) -> None:
        """Once the store has handled what it was told."""
        self.actors.store.ask(Barrier(), timeout=self.actors.timeout_s)


@contextlib.contextmanager
def running_rest(settings: Settings) -> Iterator[Rest]:
    """The actors ``start_system`` starts, but no HTTP server: the app is called directly."""
    started: list[pykka.ActorRef[Any]] = []
    core = start_core(settings, started)
    app = app_for(settings, core, client_reader(settings, core.actors.broadcaster))
    try:
        yield Rest(falcon.testing.TestClient(app), core.actors)
    finally:
        for ref in reversed(started):
            ref.stop()
        core.history.close()


@pytest.fixture
def rest(simulator: Simulator) -> Iterator[Rest]:
    """No symbol subscribed at the start: no upstream connection streams into the store."""
    with running_rest(settings_for(simulator, symbols=(), max_symbols=2, max_body_bytes=MAX_BODY_BYTES)) as rest:
        yield rest


def loaded(rest: Rest) -> None:
    wait_for(lambda: rest.client.simulate_get("/symbols/available").status_code == 200)


def add(rest: Rest, body: str | bytes, content_type: str = "application/json") -> falcon.testing.Result:
    return rest.client.simulate_post("/add_symbol", body=body, headers={"Content-Type": content_type})


def error_of(result: falcon.testing.Result, status: int) -> dict[str, Any]:
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    body = result.json
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"]
    return body


def test_status_and_symbols_before_and_after_a_symbol_is_added(rest: Rest) -> None:
    status = rest.client.simulate_get("/")
    assert status.status_code == 200
    assert status.json == {"message": "candlecast is running", "symbols": [], "upstream": "disconnected"}
    assert rest.client.simulate_get("/symbols").json == {"symbols": [], "halted": []}
    loaded(rest)
    assert add(rest, '{"symbol": "solusdt"}').json == {"message": "subscribed to SOLUSDT", "symbol": "SOLUSDT"}
    assert rest.client.simulate_get("/symbols").json == {"symbols": ["SOLUSDT"], "halted": []}
    connected = wait_for(lambda: (r := rest.client.simulate_get("/")).json["upstream"] == "connected" and r)
    assert connected.json["symbols"] == ["SOLUSDT"]


def test_available_symbols_are_the_exchanges_trading_ones(rest: Rest) -> None:
    available = wait_for(lambda: (r := rest.client.simulate_get("/symbols/available")).status_code == 200 and r)
    assert available.json["count"] == len(available.json["symbols"]) > 10
    assert available.json["symbols"] == sorted(available.json["symbols"])
    assert {"BTCUSDT", "SOLUSDT"} <= set(available.json["symbols"])
    assert "LUNAUSDT" not in available.json["symbols"], "a BREAK symbol is not available"


def test_add_and_remove_a_symbol_and_their_errors(rest: Rest) -> None:
    loaded(rest)
    assert add(rest, '{"symbol": "SOLUSDT"}').status_code == 200
    assert error_of(add(rest, '{"symbol": "solusdt"}'), 409)["error"] == "Already subscribed"
    assert add(rest, '{"symbol": "ETHUSDT"}').status_code == 200
    too_many = error_of(add(rest, '{"symbol": "BNBUSDT"}'), 409)
    assert too_many["error"] == "Too many symbols" and "--max-symbols" in too_many["detail"]
    removed = rest.client.simulate_delete("/remove_symbol/Solusdt")
    assert removed.status_code == 200 and removed.json == {"message": "unsubscribed from SOLUSDT"}
    assert error_of(rest.client.simulate_delete("/remove_symbol/SOLUSDT"), 404)["error"] == "Not subscribed"
    assert error_of(rest.client.simulate_delete("/remove_symbol/bad%20symbol"), 400)["error"] == "Invalid symbol"
    assert rest.client.simulate_get("/symbols").json == {"symbols": ["ETHUSDT"], "halted": []}


@pytest.mark.parametrize(
    "body",
    [
        '{"symbol": "NOPEUSDT"}',
        '{"symbol": "LUNAUSDT"}',
        '{"symbol": "BTC USDT!"}',
        "{not json",
        "",
        '{"sym": "BTCUSDT"}',
        '{"symbol": "BTCUSDT", "extra": 1}',
        '["BTCUSDT"]',
        '{"symbol": 5}',
        b'{"symbol": "\xff"}',
    ],
)
def test_add_symbol_refuses_a_bad_body_with_400(rest: Rest, body: str | bytes) -> None:
    loaded(rest)
    error_of(add(rest, body), 400)
    assert rest.client.simulate_get("/symbols").json["symbols"] == []


def test_add_symbol_reads_the_body_whatever_its_content_type(rest: Rest) -> None:
    """No 415: the body is read as JSON under any declared type."""
    loaded(rest)
    assert add(rest, '{"symbol": "SOLUSDT"}', content_type="text/plain").status_code == 200


def test_a_body_over_the_limit_is_413(rest: Rest) -> None:
    body = '{"symbol": "BTCUSDT", "pad": "' + "x" * MAX_BODY_BYTES + '"}'
    assert error_of(add(rest, body), 413)["error"] == "Payload too large"


def test_tick_is_the_latest_trade_the_store_published(rest: Rest) -> None:
    rest.actors.store.tell(SymbolActivated(symbol=SYMBOL))
    assert error_of(rest.client.simulate_get("/tick/BTCUSDT"), 404)["error"] == "No data yet"
    trade = Trade(
        symbol=SYMBOL,
        trade_id=17,
        price=Decimal("43012.15"),
        quantity=Decimal("0.00100"),
        time=SECOND * 1000 + 250,
        buyer_is_maker=True,
    )
    rest.actors.store.tell(TradesArrived(trades=(trade,)))
    rest.settled()
    tick = rest.client.simulate_get("/tick/btcusdt")
    assert tick.status_code == 200
    assert json.loads(tick.text, parse_float=Decimal) == {
        "symbol": SYMBOL,
        "trade_id": 17,
        "price": Decimal("43012.15"),
        "qty": Decimal("0.00100"),
        "time": SECOND * 1000 + 250,
        "timestamp": "2026-11-28T03:30:01.250Z",
        "buyer_is_maker": True,
    }


def test_ohlc_is_the_latest_candle_and_follows_its_revision(rest: Rest) -> None:
    rest.actors.store.tell(SymbolActivated(symbol=SYMBOL))
    assert error_of(rest.client.simulate_get("/ohlc/BTCUSDT"), 404)["error"] == "No data yet"
    rest.candle_of(SECOND, "43012.15")
    rest.candle_of(SECOND + 1, "43013.02")
    rest.settled()
    ohlc = rest.client.simulate_get("/ohlc/BTCUSDT")
    assert ohlc.status_code == 200
    body = json.loads(ohlc.text, parse_float=Decimal)
    assert (body["open_time"], body["close_time"], body["close"]) == (
        (SECOND + 1) * 1000,
        (SECOND + 1) * 1000 + 999,
        Decimal("43013.02"),
    )
    assert body["timestamp"].endswith("Z") and body["revision"] == 0 and body["complete"] is True
    revised = empty_candle(SYMBOL, SECOND + 1, Decimal("43014.00"))
    rest.actors.store.tell(msgspec.structs.replace(revised, trades=2, first_trade_id=SECOND, revision=1))
    rest.settled()
    body = json.loads(rest.client.simulate_get("/ohlc/BTCUSDT").text, parse_float=Decimal)
    assert (body["open_time"], body["revision"], body["close"]) == ((SECOND + 1) * 1000, 1, Decimal("43014.00"))


def test_candles_answer_the_last_limit_closed_in_order(rest: Rest) -> None:
    """The history query itself is tested in test_history.py; here, that the app serves it from
    what the store actor wrote to disk. The symbol streams live candles too: the range asked
    holds only the ones told here, days earlier."""
    loaded(rest)
    assert add(rest, '{"symbol": "BTCUSDT"}').status_code == 200
    window = {"start": str(SECOND * 1000), "end": str((SECOND + 4) * 1000)}
    assert rest.client.simulate_get("/candles/BTCUSDT", params=window).json["candles"] == []
    for offset in range(5):
        rest.candle_of(SECOND + offset, f"43000.{offset}")
    wait_for(lambda: rest.client.simulate_get("/candles/BTCUSDT", params=window).json["count"] == 5)  # on disk
    three = rest.client.simulate_get("/candles/btcusdt", params={**window, "limit": "3"}).json
    assert (three["symbol"], three["count"]) == (SYMBOL, 3)
    assert [c["open_time"] for c in three["candles"]] == [(SECOND + offset) * 1000 for offset in (0, 1, 2)]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "3601"])
def test_candles_refuse_a_limit_out_of_range_with_400(rest: Rest, limit: str) -> None:
    error_of(rest.client.simulate_get("/candles/BTCUSDT", params={"limit": limit}), 400)


@pytest.mark.parametrize("route", ["/tick", "/ohlc", "/candles"])
def test_market_routes_answer_404_for_a_symbol_not_subscribed_and_400_for_no_symbol(rest: Rest, route: str) -> None:
    assert error_of(rest.client.simulate_get(route + "/SOLUSDT"), 404)["error"] == "Not subscribed"
    invalid = error_of(rest.client.simulate_get(route + "/" + "A" * 100), 400)
    assert invalid["detail"] == f"'{'A' * 40}...' is not a symbol"


def test_a_store_that_is_gone_is_503_and_the_registry_and_history_still_answer(rest: Rest) -> None:
    loaded(rest)
    assert add(rest, '{"symbol": "BTCUSDT"}').status_code == 200
    rest.candle_of(SECOND, "43012.15")
    window = {"start": str(SECOND * 1000), "end": str(SECOND * 1000)}
    wait_for(lambda: rest.client.simulate_get("/candles/BTCUSDT", params=window).json["count"] == 1)
    rest.actors.store.stop()
    for path in ("/ohlc/BTCUSDT", "/tick/BTCUSDT"):
        assert error_of(rest.client.simulate_get(path), 503)["error"] == "Service unavailable"
    assert rest.client.simulate_get("/symbols").status_code == 200
    assert rest.client.simulate_get("/candles/BTCUSDT", params=window).json["count"] == 1, "read from disk"


def test_unknown_route_method_and_a_websocket_upgrade_on_rest_are_json_errors(rest: Rest) -> None:
    error_of(rest.client.simulate_get("/nope"), 404)
    error_of(rest.client.simulate_get("/add_symbol"), 405)
    upgrade = error_of(rest.client.simulate_get("/", headers={"Upgrade": "websocket"}), 400)
    assert upgrade["error"] == "WebSocket not served here"


def test_health_livez_and_readyz(rest: Rest) -> None:
    assert rest.client.simulate_get("/livez").json == {"status": "alive"}
    loaded(rest)
    health = rest.client.simulate_get("/health").json
    assert health["upstream"]["exchange_info_loaded"] is True and health["upstream"]["connections"] == []
    history = health["history"]
    assert (history["engine"], history["queued"], history["dropped"], history["failing"]) == ("sqlite", 0, 0, "")
    assert health["catchup"] is None  # a first start: nothing stored to catch up from
    assert {"status", "problems", "upstream", "components", "websocket", "history", "catchup", "process"} == set(health)
    assert add(rest, '{"symbol": "SOLUSDT"}').status_code == 200
    ready = wait_for(lambda: (r := rest.client.simulate_get("/readyz")).status_code == 200 and r, timeout=15)
    assert ready.json == {"status": "ready"}
    health = rest.client.simulate_get("/health").json
    assert [c["symbols"] for c in health["upstream"]["connections"]] == [["SOLUSDT"]]


@pytest.fixture
def rest_without_exchange_info(simulator: Simulator) -> Iterator[Rest]:
    """exchangeInfo (and the exchange's time) asked of a port nothing listens on."""
    settings = settings_for(simulator, symbols=(), rest_url=f"http://127.0.0.1:{closed_port()}")
    with running_rest(settings) as rest:
        yield rest


def test_without_exchange_info_symbols_cannot_be_validated_503(rest_without_exchange_info: Rest) -> None:
    rest = rest_without_exchange_info
    assert error_of(rest.client.simulate_get("/symbols/available"), 503)["error"] == "Service unavailable"
    assert "exchangeInfo" in error_of(add(rest, '{"symbol": "BTCUSDT"}'), 503)["detail"]
    health = rest.client.simulate_get("/health").json
    assert health["status"] == "degraded" and "exchangeInfo not loaded" in health["problems"]
