"""The weight budget, the waits between requests and the paging of a gap, against the real simulator's REST
API or a loopback server answering what a test needs."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from candlecast.market_data import Trade
from candlecast.messages.backfill import RequestBackfill, TradesRecovered
from candlecast.sim import Simulator
from candlecast.upstream import binance
from candlecast.upstream.rest_client import MAX_RETRY_AFTER_S, UpstreamUnavailable
from candlecast.upstream.trade_fetch import (
    AGG_TRADES_WEIGHT,
    MIN_WAIT_S,
    PAGE_SIZE,
    BudgetExhausted,
    Fetcher,
    WeightBudget,
    aggregate_pages,
    historical_pages,
    newest_trade,
)
from tests.rest_stub import Canned, RestStub


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_budget_waits_for_the_next_minute_and_trusts_the_exchange_count() -> None:
    wall = Wall(6_000.0)
    budget = WeightBudget(100, wall)
    assert budget.delay_for(25) == 0
    budget.spend(25, reported=90)
    assert budget.delay_for(25) == 60.25
    wall.now = 6_030.0
    assert budget.delay_for(25) == 30.25
    wall.now = 6_060.0
    assert budget.delay_for(25) == 0 and budget.used == 0


def test_historical_and_aggregate_pages_return_every_trade_of_the_gap(simulator: Simulator) -> None:
    stopped = threading.Event()
    trades = []
    while len(trades) < 30:
        stopped.wait(0.2)
        trades = simulator.trades("BTCUSDT")
    first, last = trades[5], trades[24]
    job = RequestBackfill("BTCUSDT", first.trade_id, last.trade_id, after_time=trades[4].time)
    for pages in (historical_pages, aggregate_pages):
        fetcher = Fetcher(simulator.rest_url, WeightBudget(6000), stopped.wait)
        got = list(pages(fetcher, job))
        assert got[-1].finished and got[-1].through_id == last.trade_id
        ids = [i for page in got for t in page.trades for i in range(t.trade_id, t.last_trade_id + 1)]
        assert ids == list(range(first.trade_id, last.trade_id + 1))
        recovered = sum((t.quantity for page in got for t in page.trades), Decimal(0))
        assert recovered == sum((t.quantity for t in trades[5:25]), Decimal(0))


def test_the_newest_trade_is_the_simulators_newest_and_is_not_fetched_while_the_budget_is_full(
    simulator: Simulator,
) -> None:
    stopped = threading.Event()
    while not simulator.trades("ETHUSDT"):
        stopped.wait(0.2)
    fetcher = Fetcher(simulator.rest_url, WeightBudget(6000), stopped.wait)
    before = simulator.trades("ETHUSDT")[-1].trade_id
    newest = newest_trade(fetcher, "ETHUSDT")  # an aggregate: trades of one price, side and millisecond
    assert newest is not None and before <= newest.last_trade_id <= simulator.trades("ETHUSDT")[-1].trade_id
    last = next(t for t in simulator.trades("ETHUSDT") if t.trade_id == newest.last_trade_id)
    assert (newest.price, newest.time, newest.buyer_is_maker) == (last.price, last.time, last.buyer_is_maker)
    once_a_minute = Fetcher(simulator.rest_url, WeightBudget(AGG_TRADES_WEIGHT, Wall(6_000.0)), Waits())
    assert newest_trade(once_a_minute, "ETHUSDT") is not None
    with pytest.raises(BudgetExhausted):
        newest_trade(once_a_minute, "ETHUSDT")
    assert once_a_minute.requests == 1


def test_a_request_heavier_than_the_whole_budget_goes_alone_at_the_start_of_a_minute() -> None:
    wall = Wall(6_000.0)
    budget = WeightBudget(10, wall)
    assert budget.delay_for(25) == 0
    budget.spend(25, reported=None)
    assert budget.delay_for(25) == 60.25
    wall.now = 6_060.0
    assert budget.delay_for(25) == 0


class Waits:
    """The Fetcher's ``wait``: notes each wait asked for and never blocks; stops after ``limit``."""

    def __init__(self, limit: int = 20) -> None:
        self.asked: list[float] = []
        self._limit = limit

    def __call__(self, seconds: float) -> bool:
        self.asked.append(seconds)
        return len(self.asked) >= self._limit


@pytest.fixture
def stub() -> Iterator[RestStub]:
    server = RestStub("http://127.0.0.1:9").start()  # every answer is canned: nothing is passed on
    yield server
    server.stop()


JOB = RequestBackfill("BTCUSDT", 5_000, None, after_time=1_700_000_000_000)


@pytest.mark.parametrize("retry_after", ["-5", "nan", "0", "inf", "1e12"])
def test_no_wait_between_requests_is_shorter_than_the_floor_or_endless(stub: RestStub, retry_after: str) -> None:
    stub.answer("/api/v3/historicalTrades", Canned(429, b"{}", (("Retry-After", retry_after),)), count=3)
    stub.answer("/api/v3/historicalTrades", Canned(503, b"unavailable"), count=3)
    stub.answer("/api/v3/historicalTrades", Canned(200, b"[]"))
    waits = Waits()
    pages = list(historical_pages(Fetcher(stub.url, WeightBudget(6000), waits), JOB))
    assert pages[-1].finished and len(waits.asked) == 6
    assert all(MIN_WAIT_S <= wait <= MAX_RETRY_AFTER_S for wait in waits.asked), waits.asked


def page_of(trades: list[Trade]) -> bytes:
    return json.dumps([binance.rest_trade(t) for t in trades]).encode()


def agg_page_of(trades: list[Trade]) -> bytes:
    return json.dumps([binance.rest_agg_trade(t.trade_id, [t]) for t in trades]).encode()


FULL_PAGE = [
    Trade("BTCUSDT", i, Decimal("1"), Decimal("1"), 1_700_000_000_000 + i, False) for i in range(1, PAGE_SIZE + 1)
]


@pytest.mark.parametrize(
    ("path", "pages", "body"),
    [
        ("/api/v3/historicalTrades", historical_pages, b"<html>502</html>"),
        ("/api/v3/historicalTrades", historical_pages, b"[" * 100_000 + b"]" * 100_000),
        ("/api/v3/historicalTrades", historical_pages, b'[{"id": "x"}]'),
        ("/api/v3/historicalTrades", historical_pages, page_of(FULL_PAGE)),
        ("/api/v3/aggTrades", aggregate_pages, b'{"a": 1}'),
        ("/api/v3/aggTrades", aggregate_pages, agg_page_of(FULL_PAGE)),
    ],
    ids=["not-json", "nested", "wrong-shape", "behind-from-id", "agg-wrong-shape", "agg-same-page-again"],
)
def test_an_answer_that_is_malformed_or_does_not_move_on_fails_the_request(
    stub: RestStub,
    path: str,
    pages: Callable[[Fetcher, RequestBackfill], Iterator[TradesRecovered]],
    body: bytes,
) -> None:
    stub.answer(path, Canned(200, body), count=5)
    fetcher = Fetcher(stub.url, WeightBudget(6000), Waits())
    with pytest.raises(UpstreamUnavailable):
        list(itertools.islice(pages(fetcher, JOB), 4))
