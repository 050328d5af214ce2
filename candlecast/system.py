"""Wiring: start the actors in dependency order, stop them in reverse.

history (on disk) <- store, history reader <- broadcaster <- backfill <- clock <- catch-up <- registry
(connections, aggregators) <- http (REST + WebSocket)
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon
import pykka
import structlog

from candlecast.actors.backfill import BackfillActor
from candlecast.actors.broadcaster import BroadcasterActor, ClientLimits
from candlecast.actors.catchup import CatchUpActor
from candlecast.actors.clock import ClockActor
from candlecast.actors.history_reader import HistoryReaderActor
from candlecast.actors.http_server import ConnectionLimits, HttpServerActor
from candlecast.actors.registry import RegistryActor
from candlecast.actors.store import StoreActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.history.engines import open_store
from candlecast.history.store import CandleStore
from candlecast.http.app import create_app
from candlecast.http.client_reader import ClientReader
from candlecast.http.resources import Actors
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.cpu_affinity import threads_started_on
from candlecast.settings import Settings, duration_s
from candlecast.store.latest import Latest

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 4.0


@dataclasses.dataclass(frozen=True)
class RunningSystem:
    settings: Settings
    refs: tuple[pykka.ActorRef[Any], ...]  # in start order
    registry: pykka.ActorRef[Any]
    store: pykka.ActorRef[Any]
    broadcaster: pykka.ActorRef[Any]
    history: CandleStore
    http_port: int
    ws_port: int

    @property
    def rest_url(self) -> str:
        return f"http://{_display_host(self.settings.host)}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{_display_host(self.settings.host)}:{self.ws_port}"

    def stop(self) -> None:
        for ref in reversed(self.refs):
            try:
                ref.stop(timeout=STOP_TIMEOUT_S)
            except pykka.Timeout:
                log.warning("actor did not stop in time", actor=str(ref))
        self.history.close()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def start_system(settings: Settings) -> RunningSystem:
    """Every thread the system starts, and every thread those start, runs on ``--cpus``."""
    with threads_started_on(settings.cpus):
        return _start_actors(settings)


@dataclasses.dataclass(frozen=True)
class Core:
    """The actors behind the HTTP layer, the latest candles and trades REST reads without asking,
    and the candle history REST reads from disk."""

    actors: Actors
    latest: Latest
    history: CandleStore
    exchange_time: ExchangeTime


def start_core(settings: Settings, started: list[pykka.ActorRef[Any]]) -> Core:
    """Start everything but the HTTP server, appending each actor to ``started`` as it starts."""
    history = open_store(settings.db, Path(settings.data_dir))
    try:
        return _start_core_actors(settings, history, started)
    except BaseException:
        history.close()
        raise


def _start_core_actors(settings: Settings, history: CandleStore, started: list[pykka.ActorRef[Any]]) -> Core:
    latest = Latest()
    # A store that saved a symbol set was running before: its symbols, not --symbols, carry on.
    saved = history.symbols()
    if saved:
        settings = dataclasses.replace(settings, symbols=saved)
    log.info("subscribing", symbols=list(settings.symbols), restored=bool(saved))
    store = StoreActor.start(
        latest=latest,
        history=history,
        engine="postgresql" if settings.db else "sqlite",
        queue_limit=settings.history_queue,
        flush_interval_s=settings.history_flush_ms / 1000,
        retention_ms=duration_s(settings.retention) * 1000,
    )
    started.append(store)
    history_reader = HistoryReaderActor.start(store=history)
    started.append(history_reader)
    broadcaster = BroadcasterActor.start(
        ClientLimits(
            max_clients=settings.ws_max_clients,
            max_clients_per_address=settings.ws_max_clients_per_ip,
            max_subscriptions=settings.ws_max_subscriptions,
            backlog_bytes=settings.ws_backlog_bytes,
            stall_timeout_s=settings.ws_send_timeout_s,
        ),
        memory_seconds=settings.memory_seconds,
        history=history_reader,
        trade_interval_s=settings.ws_trade_interval_ms / 1000,
        candle_linger_s=settings.ws_candle_linger_ms / 1000,
        writers=settings.ws_writers,
    )
    started.append(broadcaster)
    backfill = BackfillActor.start(rest_url=settings.rest_url, weight_budget=settings.rest_weight_budget)
    started.append(backfill)
    exchange_time = ExchangeTime()
    clock = ClockActor.start(
        rest_url=settings.rest_url,
        grace_ms=settings.grace_ms,
        max_offset_ms=settings.max_clock_offset_ms,
        exchange_time=exchange_time,
        broadcaster=broadcaster,
    )
    started.append(clock)
    # Before the registry: it notes each symbol's last stored second before live candles follow it.
    catchup = CatchUpActor.start(
        history=history,
        symbols=settings.symbols,
        rest_url=settings.rest_url,
        weight_budget=settings.rest_weight_budget,
        window_s=duration_s(settings.catchup_window),
        trades_window_s=settings.backfill_window_s,
        now_ms=exchange_time.now_ms,
    )
    started.append(catchup)
    registry = RegistryActor.start(
        settings=settings,
        clock=clock,
        broadcaster=broadcaster,
        store=store,
        backfill=backfill,
        history=history_reader,
        exchange_time=exchange_time,
    )
    started.append(registry)
    actors = Actors(
        registry=registry,
        store=store,
        broadcaster=broadcaster,
        backfill=backfill,
        clock=clock,
        timeout_s=settings.ask_timeout_s,
        catchup=catchup,
    )
    return Core(actors=actors, latest=latest, history=history, exchange_time=exchange_time)


def client_reader(
    settings: Settings, broadcaster: pykka.ActorRef[Any], on_ended: Callable[[ThreadEnded], object] | None = None
) -> ClientReader:
    """The thread that reads every WebSocket client, on the settings' limits."""
    return ClientReader(
        broadcaster=broadcaster,
        ping_interval_s=settings.ws_ping_interval_s,
        max_message_bytes=settings.ws_max_message_bytes,
        max_message_frames=settings.ws_max_message_frames,
        message_rate=settings.ws_message_rate,
        on_ended=on_ended,
    )


def app_for(
    settings: Settings, core: Core, reader: ClientReader, http: pykka.ActorRef[Any] | None = None
) -> falcon.App[falcon.Request, falcon.Response]:
    """The Falcon app both ports serve; ``http``, the server actor, answers for its listeners in /health."""
    return create_app(
        actors=dataclasses.replace(core.actors, http=http),
        latest=core.latest,
        reader=reader,
        compression=settings.ws_compression,
        socket_buffer_bytes=settings.ws_socket_buffer_bytes,
        rate_limit=settings.rate_limit,
        max_body_bytes=settings.max_body_bytes,
        candle_store=core.history,
        exchange_now_ms=core.exchange_time.now_ms,
    )


def _start_actors(settings: Settings) -> RunningSystem:
    # Process-wide. A thread waiting for the GIL asks its holder to let go every switch
    # interval; the reader, pool, broadcaster and writer threads mostly give it up on their
    # own, waiting on a socket or a mailbox, so forced switches only add handoffs
    # (--thread-switch-ms; docs/performance.md, Ingest, has the measurement).
    sys.setswitchinterval(settings.thread_switch_ms / 1000)
    started: list[pykka.ActorRef[Any]] = []
    core: Core | None = None
    try:
        core = start_core(settings, started)
        broadcaster = core.actors.broadcaster

        def make_reader(on_ended: Callable[[ThreadEnded], object]) -> ClientReader:
            return client_reader(settings, broadcaster, on_ended)

        def make_app(http: pykka.ActorRef[Any], reader: ClientReader) -> falcon.App[falcon.Request, falcon.Response]:
            return app_for(settings, core, reader, http)

        http = HttpServerActor.start(
            make_app=make_app,
            make_reader=make_reader,
            host=settings.host,
            http_port=settings.http_port,
            ws_port=settings.ws_port,
            max_body_bytes=settings.max_body_bytes,
            handshake_timeout_s=settings.ws_handshake_timeout_s,
            limits=ConnectionLimits(
                rest_per_address=settings.rest_max_connections_per_ip,
                upgrades_per_address=settings.ws_max_upgrades_per_ip,
                pending_upgrades=settings.ws_max_pending_upgrades,
            ),
            broadcaster=broadcaster,
        )
        started.append(http)
        proxy = http.proxy()
        system = RunningSystem(
            settings=settings,
            refs=tuple(started),
            registry=core.actors.registry,
            store=core.actors.store,
            broadcaster=broadcaster,
            history=core.history,
            http_port=proxy.http_port.get(timeout=STOP_TIMEOUT_S),
            ws_port=proxy.ws_port.get(timeout=STOP_TIMEOUT_S),
        )
    except BaseException:
        for ref in reversed(started):
            ref.stop(timeout=STOP_TIMEOUT_S)
        if core is not None:
            core.history.close()
        raise
    log.info("candlecast started", rest_url=system.rest_url, websocket_url=system.ws_url)
    return system
