"""The simulator's REST API: the market-data part of ``https://api.binance.com/api/v3``.

Resources validate parameters as Binance does and ask the hub for trades, with a timeout. The
hub's REST gate admits each request first or answers for it, and every answer carries the
minute's used weight.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import falcon
import msgspec

from candlecast.history import klines
from candlecast.http import binance_request
from candlecast.sim import errors
from candlecast.sim.gate import WEIGHTS
from candlecast.sim.hostile import malformed_answer
from candlecast.sim.klines import bars
from candlecast.sim.listing import SymbolSpec, exchange_info
from candlecast.sim.messages import (
    AdmitRequest,
    GateVerdict,
    GetAggTrades,
    GetHistoricalTrades,
    GetRecentTrades,
    GetTradesBetween,
)

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


@dataclasses.dataclass(frozen=True)
class Exchange:
    """What REST reads: the listing, the exchange clock and the hub that keeps the trades."""

    listing: tuple[SymbolSpec, ...]
    now_ms: Callable[[], int]
    hub: Any
    timeout_s: float

    @functools.cached_property
    def specs(self) -> dict[str, SymbolSpec]:
        return {spec.symbol: spec for spec in self.listing}

    def ask(self, query: Any) -> Any:
        return self.hub.ask(query, timeout=self.timeout_s)

    def symbol(self, req: falcon.Request) -> SymbolSpec:
        return self.specs[binance_request.symbol(req.get_param("symbol"), self.specs)]

    def optional_symbol(self, req: falcon.Request) -> SymbolSpec | None:
        found = binance_request.optional_symbol(req.get_param("symbol"), self.specs)
        return None if found is None else self.specs[found]


def _unsigned(req: falcon.Request, name: str) -> int | None:
    return binance_request.unsigned(req.get_param(name), name)


def _limit(req: falcon.Request) -> int:
    """Binance's default is 500; larger limits are capped at 1000."""
    limit = _unsigned(req, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise binance_request.invalid_parameter()
    return min(limit, MAX_LIMIT)


def _respond(resp: falcon.Response, body: Any) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(body)


def _respond_malformed(req: falcon.Request, resp: falcon.Response, body: Any) -> None:
    """``body``, or what the gate's fault for this request makes of it."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = malformed_answer(body, req.context.get("fault"))


class _Resource:
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange


class Ping(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _respond(resp, {})


class ServerTime(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _respond_malformed(req, resp, {"serverTime": self.exchange.now_ms()})


class ExchangeInfoResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        only = self.exchange.optional_symbol(req)
        specs = self.exchange.listing if only is None else (only,)
        _respond_malformed(req, resp, exchange_info(specs, self.exchange.now_ms()))


class RecentTrades(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        spec = self.exchange.symbol(req)
        _respond(resp, self.exchange.ask(GetRecentTrades(spec.symbol, _limit(req))))


class HistoricalTrades(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        spec = self.exchange.symbol(req)
        query = GetHistoricalTrades(spec.symbol, _limit(req), _unsigned(req, "fromId"))
        _respond(resp, self.exchange.ask(query))


class AggTrades(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        spec = self.exchange.symbol(req)
        from_id = _unsigned(req, "fromId")
        start_time = _unsigned(req, "startTime")
        end_time = _unsigned(req, "endTime")
        if from_id is not None and (start_time is not None or end_time is not None):
            raise binance_request.bad_combination()
        query = GetAggTrades(spec.symbol, _limit(req), from_id, start_time, end_time)
        _respond(resp, self.exchange.ask(query))


class Klines(_Resource):
    """``klines`` and ``uiKlines`` (the same bars): computed from the exchange's trade record."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = klines.parse_request(req.params, self.exchange.specs)
        now_ms = self.exchange.now_ms()
        query = klines.select(request, now_ms)
        selected = []
        if query is not None:
            previous_close, trades = self.exchange.ask(GetTradesBetween(query.symbol, query.start_ms, query.end_ms))
            selected = bars(query, previous_close, trades, now_ms)
        _respond_malformed(req, resp, [klines.row(bar) for bar in selected])


class Gate:
    """Middleware: the hub admits each request, or the request is answered here and now."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
        weight = WEIGHTS.get(req.path)
        if resource is None or weight is None:
            return
        verdict: GateVerdict = self.exchange.ask(AdmitRequest(req.path, weight, bool(req.get_header("X-MBX-APIKEY"))))
        resp.set_header("X-MBX-USED-WEIGHT-1M", str(verdict.used_weight))
        if verdict.status is None:
            req.context.fault = verdict.fault
            return
        if verdict.retry_after is not None:
            resp.set_header("Retry-After", verdict.retry_after)
        resp.status = verdict.status
        _respond(resp, {"code": verdict.code, "msg": verdict.msg})
        resp.complete = True


def create_rest_app(exchange: Exchange) -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App(middleware=[Gate(exchange)])
    errors.install(app)
    app.add_route("/api/v3/ping", Ping(exchange))
    app.add_route("/api/v3/time", ServerTime(exchange))
    app.add_route("/api/v3/exchangeInfo", ExchangeInfoResource(exchange))
    app.add_route("/api/v3/trades", RecentTrades(exchange))
    app.add_route("/api/v3/historicalTrades", HistoricalTrades(exchange))
    app.add_route("/api/v3/aggTrades", AggTrades(exchange))
    app.add_route(klines.KLINES, Klines(exchange))
    app.add_route(klines.UI_KLINES, Klines(exchange))
    return app
