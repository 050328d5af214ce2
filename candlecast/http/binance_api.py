"""History in Binance's own API shape: ``/api/v3/klines``, ``uiKlines``, ``exchangeInfo``, ``time`` and
``ping`` under candlecast's base URL, so a Binance client library reads candlecast's history unchanged.

Klines are rolled up by the candle store from the stored 1 s candles; requests are read, bars
selected and rows written by ``history.klines``, the module the simulator answers through too.
Errors leave in Binance's shape, ``{"code", "msg"}``, not candlecast's own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import falcon
import msgspec

from candlecast.history import klines
from candlecast.history.store import CandleStore
from candlecast.http import binance_request

PING = "/api/v3/ping"
TIME = "/api/v3/time"
EXCHANGE_INFO = "/api/v3/exchangeInfo"

Subscribed = Callable[[], Collection[str]]


def _respond(resp: falcon.Response, body: Any) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(body)


class KlinesResource:
    """``klines`` and ``uiKlines`` (the same bars) of a subscribed symbol, up to the newest stored
    second: the symbols ``exchangeInfo`` lists, as ``GET /candles`` serves them."""

    def __init__(self, *, store: CandleStore, subscribed: Subscribed) -> None:
        self._store = store
        self._subscribed = subscribed

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = klines.parse_request(req.params, self._subscribed())
        latest = self._store.last_open_time(request.symbol)
        query = None if latest is None else klines.select(request, latest)
        bars = [] if query is None else self._store.klines(query)
        _respond(resp, [klines.row(bar) for bar in bars])


class ExchangeInfoResource:
    """The subscribed symbols, each as the exchange describes it (``entries``, by symbol), or by
    name and status alone while the exchange's description is not at hand."""

    def __init__(
        self, *, subscribed: Subscribed, entries: Callable[[], Mapping[str, Any]], now_ms: Callable[[], int]
    ) -> None:
        self._subscribed = subscribed
        self._entries = entries
        self._now_ms = now_ms

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        subscribed = self._subscribed()
        wanted = self._wanted(req, subscribed)
        entries = self._entries()
        symbols = [entries.get(symbol) or {"symbol": symbol, "status": "TRADING"} for symbol in sorted(wanted)]
        body = {
            "timezone": "UTC",
            "serverTime": self._now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }
        _respond(resp, body)

    @staticmethod
    def _wanted(req: falcon.Request, subscribed: Collection[str]) -> Collection[str]:
        """``symbol=`` or ``symbols=["A","B"]`` as Binance reads them; every subscribed symbol if neither."""
        one = binance_request.single(req.params, "symbol")
        many = binance_request.single(req.params, "symbols")
        if one is not None and many is not None:
            raise binance_request.bad_combination()
        if one is not None:
            return [binance_request.symbol(one, subscribed)]
        if many is None:
            return subscribed
        try:
            names = msgspec.json.decode(many, type=list[str])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise binance_request.json_not_valid("symbols") from exc
        return [binance_request.symbol(name, subscribed) for name in names]


class TimeResource:
    def __init__(self, *, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _respond(resp, {"serverTime": self._now_ms()})


class PingResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _respond(resp, {})


def add_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    store: CandleStore,
    subscribed: Subscribed,
    entries: Callable[[], Mapping[str, Any]],
    now_ms: Callable[[], int],
) -> None:
    """Serve the Binance-shaped API on ``app``: ``subscribed`` answers the symbols subscribed now,
    ``entries`` the exchange's ``exchangeInfo`` entries by symbol, ``now_ms`` the exchange clock."""
    binance_request.install(app)
    app.add_route(PING, PingResource())
    app.add_route(TIME, TimeResource(now_ms=now_ms))
    app.add_route(EXCHANGE_INFO, ExchangeInfoResource(subscribed=subscribed, entries=entries, now_ms=now_ms))
    resource = KlinesResource(store=store, subscribed=subscribed)
    app.add_route(klines.KLINES, resource)
    app.add_route(klines.UI_KLINES, resource)
