"""Fetching trades over REST, a gap's or a symbol's newest: paged, inside Binance's
request-weight budget, waiting out 429/418 for as long as ``Retry-After`` says, within bounds.

``historicalTrades?fromId=`` returns trades by id, exactly what a gap names; where it is refused,
``aggTrades`` serves instead. A malformed answer, or one that does not move the paging on,
gives the gap up rather than fetching in a loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import structlog

from candlecast.market_data import Trade
from candlecast.messages.backfill import RequestBackfill, TradesRecovered
from candlecast.runtime.backoff import full_jitter
from candlecast.upstream import binance
from candlecast.upstream.rest_client import MAX_RETRY_AFTER_S, UNDECODABLE, RateLimited, UpstreamUnavailable, fetch

T = TypeVar("T")

HISTORICAL_TRADES_WEIGHT = 25
AGG_TRADES_WEIGHT = 4
PAGE_SIZE = 1000
MAX_ATTEMPTS = 5
# The shortest wait between two requests of one job, whatever asked for less: no tight loops.
MIN_WAIT_S = 0.2

log = structlog.get_logger(__name__)


class Stopped(Exception):
    """The owner is stopping; abandon the request in hand."""


class BudgetExhausted(UpstreamUnavailable):
    """The weight budget has no room now for a request that must not wait for it."""


class WeightBudget:
    """Binance counts request weight per IP per wall-clock minute and reports the total in
    every answer; this keeps our requests under ``budget`` of it."""

    def __init__(self, budget: int, wall_s: Callable[[], float] = time.time) -> None:
        self.budget = budget
        self.used = 0
        self._minute = 0
        self._wall_s = wall_s

    def delay_for(self, weight: int) -> float:
        """Seconds to wait before a request of ``weight`` fits (0: send now)."""
        now = self._wall_s()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self.used = minute, 0
        if self.used == 0 or self.used + weight <= self.budget:  # a request over the budget goes alone
            return 0.0
        return 60 - now % 60 + 0.25

    def spend(self, weight: int, reported: int | None) -> None:
        self.used = reported if reported is not None else self.used + weight


class Fetcher:
    """GET with the budget, rate-limit answers and transient failures handled; ``wait``
    sleeps and returns True when the owner is stopping."""

    def __init__(self, rest_url: str, budget: WeightBudget, wait: Callable[[float], bool]) -> None:
        self._rest_url = rest_url
        self.budget = budget
        self._wait = wait
        self.requests = 0
        self.rate_limited = 0

    def get(self, path: str, params: dict[str, object], weight: int, *, wait_for_budget: bool = True) -> bytes:
        failures = 0
        while True:
            delay = self.budget.delay_for(weight)
            if delay and not wait_for_budget:
                raise BudgetExhausted(f"GET {path}: REST weight budget reached ({self.budget.used} used this minute)")
            if delay:
                log.info("REST weight budget reached; waiting", used=self.budget.used, wait_s=round(delay, 1))
                self._sleep(delay)
                continue
            try:
                self.requests += 1
                answer = fetch(self._rest_url, path, params)
            except RateLimited as exc:
                self.rate_limited += 1
                self.budget.spend(weight, None)
                log.warning("REST rate limited", status=exc.status, retry_after_s=exc.retry_after_s)
                self._sleep(exc.retry_after_s)
                continue
            except UpstreamUnavailable as exc:
                if type(exc) is not UpstreamUnavailable or failures + 1 >= MAX_ATTEMPTS:
                    raise
                failures += 1
                self._sleep(full_jitter(failures, 0.5, 10.0))
                continue
            self.budget.spend(weight, answer.used_weight)
            return answer.body

    def _sleep(self, seconds: float) -> None:
        if self._wait(min(MAX_RETRY_AFTER_S, max(MIN_WAIT_S, seconds))):
            raise Stopped()


def newest_trade(fetcher: Fetcher, symbol: str) -> Trade | None:
    """The newest trade of ``symbol`` (None: it never traded). Asked only while the budget has
    room: it prices the seconds before a new stream's first trade, which a minute's wait would
    mostly have passed, and the budget is better left to repairing gaps."""
    # The newest aggregate trade: its price and its last trade id, at a sixth of /api/v3/trades' weight.
    params = {"symbol": symbol, "limit": 1}
    body = fetcher.get("/api/v3/aggTrades", params, AGG_TRADES_WEIGHT, wait_for_budget=False)
    rows = _parsed(binance.parse_agg_trades, symbol, body)
    return rows[-1][1] if rows else None


def historical_pages(fetcher: Fetcher, job: RequestBackfill) -> Iterator[TradesRecovered]:
    next_id = job.first_id
    while True:
        limit = PAGE_SIZE if job.last_id is None else min(PAGE_SIZE, job.last_id - next_id + 1)
        params = {"symbol": job.symbol, "fromId": next_id, "limit": limit}
        trades = _parsed(
            binance.parse_rest_trades,
            job.symbol,
            fetcher.get("/api/v3/historicalTrades", params, HISTORICAL_TRADES_WEIGHT),
        )
        through = trades[-1].trade_id if trades else next_id - 1
        if trades and through < next_id:
            raise UpstreamUnavailable(f"historicalTrades from id {next_id} answered trades up to {through} only")
        finished = len(trades) < limit or (job.last_id is not None and through >= job.last_id)
        yield TradesRecovered(job.symbol, job.first_id, tuple(trades), through, finished)
        if finished:
            return
        next_id = through + 1


def aggregate_pages(fetcher: Fetcher, job: RequestBackfill) -> Iterator[TradesRecovered]:
    params: dict[str, object] = {"symbol": job.symbol, "startTime": job.after_time, "limit": PAGE_SIZE}
    through = job.first_id - 1
    from_id = 0  # the first page is asked for by time
    while True:
        rows = _parsed(
            binance.parse_agg_trades, job.symbol, fetcher.get("/api/v3/aggTrades", params, AGG_TRADES_WEIGHT)
        )
        if rows and rows[-1][0] < from_id:
            raise UpstreamUnavailable(f"aggTrades from id {from_id} answered ids up to {rows[-1][0]} only")
        wanted: list[Trade] = []
        reached_end = False
        for _, trade in rows:
            if job.last_id is not None and trade.trade_id > job.last_id:
                reached_end = True
                break
            if trade.last_trade_id >= job.first_id:
                wanted.append(trade)
                through = max(through, trade.last_trade_id)
        finished = reached_end or len(rows) < PAGE_SIZE or (job.last_id is not None and through >= job.last_id)
        yield TradesRecovered(job.symbol, job.first_id, tuple(wanted), through, finished)
        if finished:
            return
        from_id = rows[-1][0] + 1
        params = {"symbol": job.symbol, "fromId": from_id, "limit": PAGE_SIZE}


def _parsed(parse: Callable[[str, bytes], list[T]], symbol: str, body: bytes) -> list[T]:
    try:
        return parse(symbol, body)
    except (binance.MalformedFrame, *UNDECODABLE) as exc:
        raise UpstreamUnavailable(str(exc)[:200]) from exc
