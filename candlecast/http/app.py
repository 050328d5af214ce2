"""The Falcon app factory: every dependency passed in, nothing global, one app for both ports."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from candlecast.history.store import CandleStore
from candlecast.http import binance_api, errors, health, history, resources
from candlecast.http.client_reader import ClientReader
from candlecast.http.middleware import BodyLimit, RateLimit
from candlecast.http.websocket import WebSocketUpgrade
from candlecast.messages.symbols import GetSymbolEntries, ListSymbols
from candlecast.store.latest import Latest


def create_app(
    *,
    actors: resources.Actors,
    latest: Latest,
    reader: ClientReader,
    compression: bool,
    socket_buffer_bytes: int,
    rate_limit: str,
    max_body_bytes: int,
    candle_store: CandleStore,
    exchange_now_ms: Callable[[], int],
) -> falcon.App[falcon.Request, falcon.Response]:
    middleware: list[RateLimit | BodyLimit | WebSocketUpgrade] = [RateLimit(rate_limit)] if rate_limit else []
    middleware += [
        BodyLimit(max_body_bytes),
        WebSocketUpgrade(actors.broadcaster, reader, compression, socket_buffer_bytes),
    ]
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    app.add_route("/", resources.StatusResource(actors))
    app.add_route("/health", health.HealthResource(actors))
    app.add_route("/livez", health.LivezResource())
    app.add_route("/readyz", health.ReadyzResource(actors))
    app.add_route("/symbols", resources.SymbolsResource(actors))
    app.add_route("/symbols/available", resources.AvailableSymbolsResource(actors))
    app.add_route("/add_symbol", resources.AddSymbolResource(actors))
    app.add_route("/remove_symbol/{symbol}", resources.RemoveSymbolResource(actors))
    app.add_route("/tick/{symbol}", resources.TickResource(actors, latest))
    app.add_route("/ohlc/{symbol}", resources.OhlcResource(actors, latest))
    app.add_route("/candles/{symbol}", history.HistoryResource(actors=actors, store=candle_store))
    binance_api.add_routes(
        app,
        store=candle_store,
        subscribed=lambda: actors.ask(actors.registry, ListSymbols()),
        entries=lambda: actors.ask(actors.registry, GetSymbolEntries()),
        now_ms=exchange_now_ms,
    )
    return app
