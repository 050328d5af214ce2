"""REST resources: small classes, each asking one actor with a timeout (503 when it does not
answer), except that /ohlc and /tick first read what the store published (``store.latest``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import falcon
import msgspec
import pykka

from candlecast.http import encoding
from candlecast.messages.base import Query
from candlecast.messages.store import Barrier, GapCounts, GetLatestCandle, GetTick
from candlecast.messages.symbols import AddSymbol, ListAvailable, ListHalted, ListSymbols, RemoveSymbol
from candlecast.messages.upstream import ConnectionStatus, GetUpstreamStatus, UpstreamStatus
from candlecast.store.latest import Latest
from candlecast.upstream.binance import is_valid_symbol, normalize_symbol


@dataclasses.dataclass(frozen=True)
class Actors:
    """The actors REST talks to, and how long it waits for them."""

    registry: pykka.ActorRef[Any]
    store: pykka.ActorRef[Any]
    broadcaster: pykka.ActorRef[Any]
    backfill: pykka.ActorRef[Any]
    clock: pykka.ActorRef[Any]
    timeout_s: float
    http: pykka.ActorRef[Any] | None = None  # the HTTP actor, which owns the listeners and the WebSocket reader
    catchup: pykka.ActorRef[Any] | None = None  # fills what a restart missed; None when not started

    def ask(self, actor: pykka.ActorRef[Any], query: Query) -> Any:
        return actor.ask(query, timeout=self.timeout_s)


def respond(resp: falcon.Response, body: Any) -> None:
    respond_encoded(resp, encoding.encode(body))


def respond_encoded(resp: falcon.Response, body: bytes) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.data = body


# A symbol has at most 20 characters; what is echoed of a longer one in an error is cut here.
ECHOED_CHARS = 40


def path_symbol(raw: str) -> str:
    symbol = normalize_symbol(raw)
    if not is_valid_symbol(symbol):
        shown = raw if len(raw) <= ECHOED_CHARS else raw[:ECHOED_CHARS] + "..."
        raise falcon.HTTPBadRequest(title="Invalid symbol", description=f"{shown!r} is not a symbol")
    return symbol


class _AddSymbolBody(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str


def read_add_symbol_body(req: falcon.Request) -> str:
    raw = req.bounded_stream.read()
    if not raw:
        raise falcon.HTTPBadRequest(title="Bad request", description='body must be JSON like {"symbol": "BTCUSDT"}')
    try:
        body = msgspec.json.decode(raw, type=_AddSymbolBody)
    # msgspec checks a string's UTF-8 only when it decodes it, raising UnicodeDecodeError.
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise falcon.HTTPBadRequest(
            title="Bad request", description=f'body must be JSON like {{"symbol": "BTCUSDT"}}: {exc}'
        ) from exc
    return path_symbol(body.symbol)


def connection_gaps(connection: ConnectionStatus, gaps: Mapping[str, GapCounts]) -> GapCounts:
    """The gaps of the symbols ``connection`` carries, summed."""
    return GapCounts.total(gaps[symbol] for symbol in connection.symbols if symbol in gaps)


def upstream_summary(status: UpstreamStatus, gaps: Mapping[str, GapCounts] | None = None) -> dict[str, Any]:
    """Connections as the registry sees them; with ``gaps``, each also sums its symbols' gaps."""
    connections = []
    for connection in status.connections:
        body = msgspec.structs.asdict(connection)
        if gaps is not None:
            body["gaps"] = connection_gaps(connection, gaps)
        connections.append(body)
    return {
        "connected": status.connected,
        "exchange_info_loaded": status.exchange_info_loaded,
        "connections": connections,
    }


class Resource:
    def __init__(self, actors: Actors) -> None:
        self._actors = actors


class StatusResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = self._actors.ask(self._actors.registry, GetUpstreamStatus())
        symbols = self._actors.ask(self._actors.registry, ListSymbols())
        respond(
            resp,
            {
                "message": "candlecast is running",
                "symbols": list(symbols),
                "upstream": "connected" if status.connected else "disconnected",
            },
        )


class AvailableSymbolsResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        symbols = self._actors.ask(self._actors.registry, ListAvailable())
        respond(resp, {"count": len(symbols), "symbols": list(symbols)})


class SymbolsResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        registry = self._actors.registry
        respond(
            resp,
            {
                "symbols": list(self._actors.ask(registry, ListSymbols())),
                "halted": list(self._actors.ask(registry, ListHalted())),
            },
        )


class AddSymbolResource(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        symbol = self._actors.ask(self._actors.registry, AddSymbol(symbol=read_add_symbol_body(req)))
        respond(resp, {"message": f"subscribed to {symbol}", "symbol": symbol})


class RemoveSymbolResource(Resource):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        removed = self._actors.ask(self._actors.registry, RemoveSymbol(symbol=path_symbol(symbol)))
        # The registry has told the store; once the store has let the symbol go, /ohlc (which
        # reads what the store published) no longer answers a candle of it.
        self._actors.ask(self._actors.store, Barrier())
        respond(resp, {"message": f"unsubscribed from {removed}"})


class _LatestResource(Resource):
    def __init__(self, actors: Actors, latest: Latest) -> None:
        super().__init__(actors)
        self._latest = latest


class TickResource(_LatestResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = path_symbol(symbol)
        trade = self._latest.trade(symbol)
        if trade is None:  # not subscribed, just added or no trade yet: the store answers which
            trade = self._actors.ask(self._actors.store, GetTick(symbol=symbol))
        respond(resp, encoding.trade_body(trade))


class OhlcResource(_LatestResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = path_symbol(symbol)
        body = self._latest.candle(symbol)
        if body is None:  # not subscribed, just added or no candle yet: the store answers which
            body = self._actors.ask(self._actors.store, GetLatestCandle(symbol=symbol))
        respond_encoded(resp, body)
