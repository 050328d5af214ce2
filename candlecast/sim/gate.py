"""Who may use the REST API right now, decided as Binance decides it.

Every request spends its route's weight in the current minute of the exchange clock
(reported back in ``X-MBX-USED-WEIGHT-1M``); past the limit the answer is 429 with
``Retry-After`` until the next minute. Tests can also make the next trade requests fail
with 429 or 418, and make ``historicalTrades`` want an API key. Pure: the hub owns one and
passes the time in.
"""

from __future__ import annotations

from candlecast.sim.messages import Admission

WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
}
TRADE_PATHS = frozenset({"/api/v3/trades", "/api/v3/historicalTrades", "/api/v3/aggTrades"})
HISTORICAL_TRADES = "/api/v3/historicalTrades"
TOO_MANY_REQUESTS = -1003
BAD_API_KEY = -2014
MINUTE_MS = 60_000


def _over_limit_msg(status: int, limit: int, until_ms: int) -> str:
    if status == 418:
        return f"Way too many requests; IP(127.0.0.1) banned until {until_ms}. Please use the websocket for live updates to avoid bans."
    return (
        f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per minute. "
        "Please use the websocket for live updates to avoid polling the API."
    )


class RestGate:
    def __init__(self, weight_limit: int, historical_trades_need_key: bool) -> None:
        self._limit = weight_limit
        self._need_key = historical_trades_need_key
        self._minute = 0
        self._used = 0
        self._failures: list[tuple[int, int]] = []

    def fail_next(self, status: int, retry_after_s: int, count: int) -> None:
        if status not in (418, 429):
            raise ValueError("Binance answers 429 or 418 to a client over its limits")
        self._failures.extend([(status, retry_after_s)] * count)

    def used(self, now_ms: int) -> int:
        return self._used if now_ms // MINUTE_MS == self._minute else 0

    def admit(self, path: str, weight: int, api_key: bool, now_ms: int) -> Admission:
        if now_ms // MINUTE_MS != self._minute:
            self._minute, self._used = now_ms // MINUTE_MS, 0
        if path in TRADE_PATHS and self._failures:
            status, retry_after_s = self._failures.pop(0)
            until_ms = now_ms + retry_after_s * 1000
            return Admission(self._used, status, TOO_MANY_REQUESTS, _over_limit_msg(status, self._limit, until_ms), retry_after_s)
        if path == HISTORICAL_TRADES and self._need_key and not api_key:
            return Admission(self._used, 401, BAD_API_KEY, "API-key format invalid.")
        if self._used + weight > self._limit:
            next_minute_ms = (self._minute + 1) * MINUTE_MS
            retry_after_s = -(-(next_minute_ms - now_ms) // 1000)
            return Admission(self._used, 429, TOO_MANY_REQUESTS, _over_limit_msg(429, self._limit, next_minute_ms), retry_after_s)
        self._used += weight
        return Admission(self._used)
