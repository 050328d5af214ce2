"""The weight budget and the paging of a gap, against the real simulator's REST API."""

from __future__ import annotations

import threading
from decimal import Decimal

from candlecast.backfill import Fetcher, WeightBudget, aggregate_pages, historical_pages
from candlecast.messages import RequestBackfill
from candlecast.sim import Simulator


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
