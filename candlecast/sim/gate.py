"""Who may use the REST API right now, decided as Binance decides it.

Every request spends its route's weight in the current minute (``X-MBX-USED-WEIGHT-1M``); past
the limit the answer is 429 with ``Retry-After``. Tests can also inject 429/418 answers,
malformed answers, a skewed clock or an API-key requirement. Pure: the hub passes the time in.
"""

from __future__ import annotations

import math
from collections import deque

from candlecast.history.klines import KLINES, UI_KLINES
from candlecast.history.klines import WEIGHT as KLINE_WEIGHT
from candlecast.sim.hostile import SERVER_TIME
from candlecast.sim.messages import GateVerdict

WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
    KLINES: KLINE_WEIGHT,
    UI_KLINES: KLINE_WEIGHT,
}
TRADE_PATHS = frozenset({"/api/v3/trades", "/api/v3/historicalTrades", "/api/v3/aggTrades"})
HISTORICAL_TRADES = "/api/v3/historicalTrades"
TOO_MANY_REQUESTS = -1003
BAD_API_KEY = -2014
MINUTE_MS = 60_000


def _over_limit_msg(status: int, limit: int, until_ms: int) -> str:
    if status == 418:
        return (
            f"Way too many requests; IP(127.0.0.1) banned until {until_ms}. "
            "Please use the websocket for live updates to avoid bans."
        )
    return (
        f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API."
    )


def _ban_ends_ms(now_ms: int, retry_after: str) -> int:
    """When the ban a ``Retry-After`` announces ends; now if the header says nothing sensible."""
    try:
        seconds = float(retry_after)
    except ValueError:
        return now_ms
    return now_ms + int(seconds * 1000) if math.isfinite(seconds) else now_ms


class RestGate:
    def __init__(self, weight_limit: int, historical_trades_need_key: bool, time_skew_ms: int = 0) -> None:
        self._limit = weight_limit
        self._need_key = historical_trades_need_key
        self._minute = 0
        self._used = 0
        self._failures: list[tuple[int, str, frozenset[str]]] = []
        self._faults: dict[str, deque[str]] = {}
        self._time_skew_ms = time_skew_ms

    def fail_next(self, status: int, retry_after: str, count: int, paths: frozenset[str] = TRADE_PATHS) -> None:
        """The next ``count`` requests to any of ``paths`` answer ``status``."""
        if status not in (418, 429):
            raise ValueError("Binance answers 429 or 418 to a client over its limits")
        self._failures.extend([(status, retry_after, paths)] * count)

    def malform_next(self, path: str, kind: str, count: int) -> None:
        """The next ``count`` answers of ``path`` are malformed as ``kind`` says (see ``hostile``)."""
        self._faults.setdefault(path, deque()).extend([kind] * count)

    def skew_time(self, offset_ms: int) -> None:
        """From now on ``/api/v3/time`` says the exchange clock plus ``offset_ms`` (0: the truth)."""
        self._time_skew_ms = offset_ms

    def used(self, now_ms: int) -> int:
        return self._used if now_ms // MINUTE_MS == self._minute else 0

    def admit(self, path: str, weight: int, api_key: bool, now_ms: int) -> GateVerdict:
        if now_ms // MINUTE_MS != self._minute:
            self._minute, self._used = now_ms // MINUTE_MS, 0
        failure = next((f for f in self._failures if path in f[2]), None)
        if failure is not None:
            self._failures.remove(failure)
            status, retry_after, _ = failure
            until_ms = _ban_ends_ms(now_ms, retry_after)
            msg = _over_limit_msg(status, self._limit, until_ms)
            return GateVerdict(self._used, status, TOO_MANY_REQUESTS, msg, retry_after)
        if path == HISTORICAL_TRADES and self._need_key and not api_key:
            return GateVerdict(self._used, 401, BAD_API_KEY, "API-key format invalid.")
        if self._used + weight > self._limit:
            next_minute_ms = (self._minute + 1) * MINUTE_MS
            retry_after_s = -(-(next_minute_ms - now_ms) // 1000)
            msg = _over_limit_msg(429, self._limit, next_minute_ms)
            return GateVerdict(self._used, 429, TOO_MANY_REQUESTS, msg, str(retry_after_s))
        self._used += weight
        return GateVerdict(self._used, fault=self._fault(path))

    def _fault(self, path: str) -> str | None:
        faults = self._faults.get(path)
        if faults:
            return faults.popleft()
        if path == SERVER_TIME and self._time_skew_ms:
            return f"offset:{self._time_skew_ms}"
        return None
