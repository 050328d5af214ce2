"""What the exchange's REST API answers cannot stop the system or drop a subscription: odd
``Retry-After`` values, malformed exchangeInfo answers and symbols leaving TRADING, through a
real loopback server standing in front of the simulator; and the cap on symbols."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from candlecast.upstream.rest_client import MAX_RETRY_AFTER_S, MIN_RETRY_AFTER_S
from tests.clients import request, wait_for
from tests.conftest import make_simulator, settings_for
from tests.rest_stub import EXCHANGE_INFO, Canned, RestStub
from tests.system.test_upstream_limits import keeps_streaming

HISTORICAL_TRADES = "/api/v3/historicalTrades"
RATE_LIMITED = b'{"code":-1003,"msg":"Too many requests; IP banned until later."}'


@contextlib.contextmanager
def behind_stub(
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"), first: tuple[tuple[str, Canned], ...] = (), **settings: Any
) -> Iterator[tuple[Simulator, RestStub, RunningSystem]]:
    """The simulator, the stub in front of its REST API (giving the ``first`` answers to their
    paths before any other), and a system reading REST through the stub."""
    sim = make_simulator(symbols=symbols, trades_per_second=20.0)
    sim.start()
    stub = RestStub(sim.rest_url).start()
    for path, canned in first:
        stub.answer(path, canned)
    try:
        system = start_system(settings_for(sim, rest_url=stub.url, symbols=symbols, **settings))
        try:
            yield sim, stub, system
        finally:
            system.stop()
    finally:
        stub.stop()
        sim.stop()


def health(system: RunningSystem) -> dict[str, Any]:
    return request("GET", system.rest_url + "/health").json


def symbols(system: RunningSystem) -> dict[str, Any]:
    return request("GET", system.rest_url + "/symbols").json


def untouched(component: dict[str, Any]) -> bool:
    return component["state"] == "running" and component["restarts"] == 0


def logged(logs: list[dict[str, Any]], event: str, **context: Any) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == event and context.items() <= entry.items()]


def poll_failures(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return logged(logs, "upstream request failed", poller="exchange-info")


def rate_limited(value: str) -> Canned:
    return Canned(429, RATE_LIMITED, (("Retry-After", value),))


@pytest.mark.parametrize("value", ["inf", "1e12"])
def test_an_endless_retry_after_on_exchange_info_is_a_capped_wait_and_the_poller_lives(value: str) -> None:
    with capture_logs() as logs, behind_stub(first=((EXCHANGE_INFO, rate_limited(value)),)) as (_sim, stub, system):
        failures = wait_for(lambda: poll_failures(logs), timeout=15)
        assert failures[0]["retry_in_s"] == MAX_RETRY_AFTER_S
        assert untouched(health(system)["components"]["exchange-info"])
        assert len(stub.requests(EXCHANGE_INFO)) == 1, "waiting, not asking again"


@pytest.mark.parametrize(("value", "wait"), [("inf", MAX_RETRY_AFTER_S), ("1e12", MAX_RETRY_AFTER_S), ("nan", 60.0)])
def test_an_odd_retry_after_on_a_backfill_is_a_bounded_wait_and_the_worker_lives(value: str, wait: float) -> None:
    with capture_logs() as logs, behind_stub(symbols=("BTCUSDT",)) as (sim, stub, system):
        keeps_streaming(system, "BTCUSDT")
        before = len(stub.requests(HISTORICAL_TRADES))
        stub.answer(HISTORICAL_TRADES, rate_limited(value))
        sim.skip_trades("BTCUSDT", 5)
        waits = wait_for(lambda: logged(logs, "REST rate limited"), timeout=15)
        assert [entry["retry_after_s"] for entry in waits] == [wait]
        report = health(system)
        assert untouched(report["components"]["backfill"])
        assert report["upstream"]["backfill"]["failed"] == 0, "the gap is waited for, not given up"
        assert len(stub.requests(HISTORICAL_TRADES)) == before + 1, "waiting, not asking again"


def test_a_negative_retry_after_waits_a_second_between_requests_and_the_gap_is_repaired() -> None:
    with behind_stub(symbols=("BTCUSDT",)) as (sim, stub, system):
        keeps_streaming(system, "BTCUSDT")
        before = len(stub.requests(HISTORICAL_TRADES))
        stub.answer(HISTORICAL_TRADES, rate_limited("-5"), count=3)
        sim.skip_trades("BTCUSDT", 5)
        wait_for(lambda: health(system)["upstream"]["backfill"]["trades_recovered"] >= 5, timeout=20)
        times = stub.requests(HISTORICAL_TRADES)[before:]
        assert len(times) >= 4
        assert all(later - earlier >= MIN_RETRY_AFTER_S * 0.9 for earlier, later in itertools.pairwise(times[:4]))
        report = health(system)
        assert untouched(report["components"]["backfill"])
        assert report["upstream"]["backfill"]["rate_limited"] == 3 and report["upstream"]["backfill"]["failed"] == 0


MALFORMED_EXCHANGE_INFO = [
    b"<html><body>502 Bad Gateway</body></html>",
    b"[]",
    b'{"symbols": {}}',
    b'{"symbols": [1]}',
    b'{"symbols": []}',
    b'{"symbols": [{"symbol": "BTCUSDT"}]}',
    b'{"symbols": [{"status": "TRADING"}]}',
    b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


def test_malformed_exchange_info_answers_are_retried_and_drop_no_subscription() -> None:
    with (
        capture_logs() as logs,
        behind_stub(reconnect_max_s=1.0, exchange_info_interval_s=0.2) as (_sim, stub, system),
    ):
        wait_for(lambda: health(system)["upstream"]["exchange_info_loaded"])
        for body in MALFORMED_EXCHANGE_INFO:
            stub.answer(EXCHANGE_INFO, Canned(200, body))
        wait_for(lambda: len(poll_failures(logs)) >= len(MALFORMED_EXCHANGE_INFO), timeout=30)
        failures = poll_failures(logs)
        assert len(failures) == len(MALFORMED_EXCHANGE_INFO)
        assert all("exchangeInfo: malformed answer" in entry["error"] for entry in failures), failures
        assert not logged(logs, "upstream answer not usable")
        assert symbols(system) == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": []}
        assert untouched(health(system)["components"]["exchange-info"])
        keeps_streaming(system, "BTCUSDT")


def with_symbol(status: str | None, symbol: str) -> Any:
    """exchangeInfo as the simulator answers it, with ``symbol`` in ``status`` (None: left out)."""

    def rewrite(body: bytes) -> bytes:
        info = json.loads(body)
        entries = [e for e in info["symbols"] if e["symbol"] != symbol or status is not None]
        info["symbols"] = [{**e, "status": status} if e["symbol"] == symbol else e for e in entries]
        return json.dumps(info).encode()

    return rewrite


def halted(system: RunningSystem) -> list[str]:
    return symbols(system)["halted"]


def test_a_symbol_leaving_trading_stays_subscribed_shown_halted_and_resumes() -> None:
    with behind_stub(exchange_info_interval_s=0.2) as (_sim, stub, system):
        keeps_streaming(system, "BTCUSDT")
        stub.rewrite(EXCHANGE_INFO, with_symbol("BREAK", "BTCUSDT"))
        wait_for(lambda: halted(system) == ["BTCUSDT"])
        assert symbols(system)["symbols"] == ["BTCUSDT", "ETHUSDT"]
        report = health(system)
        assert report["upstream"]["halted"] == ["BTCUSDT"]
        assert any("halted" in problem and "BTCUSDT" in problem for problem in report["problems"])
        reply = request("POST", system.rest_url + "/add_symbol", '{"symbol": "BTCUSDT"}')
        assert reply.status == 409, "still subscribed"

        stub.rewrite(EXCHANGE_INFO, with_symbol(None, "BTCUSDT"))  # an answer that leaves it out
        polls = len(stub.requests(EXCHANGE_INFO))
        wait_for(lambda: len(stub.requests(EXCHANGE_INFO)) >= polls + 2)
        assert symbols(system) == {"symbols": ["BTCUSDT", "ETHUSDT"], "halted": ["BTCUSDT"]}

        stub.rewrite(EXCHANGE_INFO, None)
        wait_for(lambda: halted(system) == [])
        assert symbols(system)["symbols"] == ["BTCUSDT", "ETHUSDT"]
        assert health(system)["upstream"]["halted"] == []
        keeps_streaming(system, "BTCUSDT")


def test_adding_past_max_symbols_answers_409_until_one_is_removed() -> None:
    with behind_stub(symbols=("BTCUSDT",), max_symbols=2) as (_sim, _stub, system):
        url = system.rest_url
        wait_for(lambda: request("GET", url + "/symbols/available").status == 200)
        assert request("POST", url + "/add_symbol", '{"symbol": "ETHUSDT"}').status == 200
        reply = request("POST", url + "/add_symbol", '{"symbol": "SOLUSDT"}')
        assert reply.status == 409 and reply.headers["content-type"].startswith("application/json")
        assert reply.json["error"] == "Too many symbols" and "--max-symbols" in reply.json["detail"]
        assert symbols(system)["symbols"] == ["BTCUSDT", "ETHUSDT"]
        assert request("DELETE", url + "/remove_symbol/ETHUSDT").status == 200
        assert request("POST", url + "/add_symbol", '{"symbol": "SOLUSDT"}').status == 200
