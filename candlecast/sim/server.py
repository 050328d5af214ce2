"""The simulator as one object: a Binance-compatible exchange on loopback for tests and demos.

``start`` builds the market (random walks and replays), starts the exchange hub (which starts
its pacer), the REST server and the stream listener; ``stop`` takes them down in reverse and
joins every thread it started. Stopping says goodbye to stream clients with a close frame;
each session cuts its socket if the client does not answer promptly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pykka
import structlog

from candlecast.http.close_codes import CloseCode
from candlecast.http.upgrade_listener import UpgradeListener
from candlecast.http.waitress_thread import WaitressThread
from candlecast.market_data import Trade
from candlecast.sim.config import SimulatorConfig
from candlecast.sim.gate import TRADE_PATHS
from candlecast.sim.hostile import check_answer_fault, check_corruption
from candlecast.sim.hub import ExchangeHub
from candlecast.sim.listing import LISTING, TRADING, SymbolSpec, synthetic_listing
from candlecast.sim.malformed import KINDS, MalformedKind
from candlecast.sim.market import random_trades
from candlecast.sim.messages import (
    CloseClients,
    CorruptTrades,
    DropConnections,
    FailRest,
    GetStats,
    GetTrades,
    IgnoreSubscribes,
    MalformRest,
    SendMalformed,
    ServerShutdown,
    SimulatorStats,
    SkewServerTime,
    SkipTrades,
    StallConnections,
)
from candlecast.sim.rest import Exchange, create_rest_app
from candlecast.sim.schedule import Schedule
from candlecast.sim.streams import StreamOptions, create_stream_app
from candlecast.upstream.binance import normalize_symbol, stream_name

ASK_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 10.0
# A stream session keeps its request thread for its life. Binance allows 300 connection attempts
# per 5 minutes from one address; no client of the simulator holds anywhere near this many.
SESSION_THREADS = 1024
# The market opens on the first whole second at least this far after start, so clients
# that connect right after ``start`` see its first second complete.
OPENING_DELAY_MS = 500

log = structlog.get_logger("candlecast.sim")
_Part = TypeVar("_Part")


def exchange_now_ms(offset_ms: int) -> Callable[[], int]:
    """The exchange's time: local epoch milliseconds shifted by ``offset_ms``."""
    return lambda: time.time_ns() // 1_000_000 + offset_ms


def trading_specs(listing: tuple[SymbolSpec, ...], config: SimulatorConfig) -> tuple[SymbolSpec, ...]:
    """The listed symbols that trade; a replayed symbol trades from its file, not at random."""
    tradable = {spec.symbol: spec for spec in listing if spec.status == TRADING}
    wanted = tuple(tradable) if config.symbols is None else tuple(normalize_symbol(s) for s in config.symbols)
    if config.replay is not None:
        wanted = (*wanted, config.replay.symbol)
    unknown = sorted(set(wanted) - set(tradable))
    if unknown:
        raise ValueError(f"not TRADING in the simulator's listing: {', '.join(unknown)}")
    return tuple(tradable[symbol] for symbol in dict.fromkeys(wanted))


class Simulator:
    def __init__(self, config: SimulatorConfig, listing: tuple[SymbolSpec, ...] = LISTING) -> None:
        self.config = config
        self._listing = listing + synthetic_listing(config.synthetic_symbols)
        self._specs = trading_specs(self._listing, config)
        self._now_ms = exchange_now_ms(config.time_offset_ms)
        self._hub: pykka.ActorRef[ExchangeHub] | None = None
        self._rest: WaitressThread | None = None
        self._streams: UpgradeListener | None = None
        self._stopped = False
        self.opens_at: int | None = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self._running(self._rest).port}"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.config.host}:{self._running(self._streams).port}"

    def start(self) -> None:
        """Returns once both servers accept connections; the market opens at ``opens_at``."""
        self.opens_at = -(-(self._now_ms() + OPENING_DELAY_MS) // 1000) * 1000
        self._hub = ExchangeHub.start(self._schedules(self.opens_at), self._now_ms, self.config)
        try:
            exchange = Exchange(self._listing, self._now_ms, self._hub, ASK_TIMEOUT_S)
            self._rest = WaitressThread(
                app=create_rest_app(exchange), host=self.config.host, port=self.config.rest_port, name="sim-rest"
            )
            known = frozenset(stream_name(spec.symbol) for spec in self._listing)
            stream_app = create_stream_app(self._hub, known, StreamOptions())
            self._streams = UpgradeListener(
                app=stream_app,
                host=self.config.host,
                port=self.config.ws_port,
                name="sim-streams",
                handshake_timeout_s=HANDSHAKE_TIMEOUT_S,
                threads=SESSION_THREADS,
                per_address=SESSION_THREADS,  # every session comes from the gateway's one address
            )
            self._rest.start()
            self._streams.start()
        except BaseException:
            self.stop()
            raise
        log.info("simulator started", rest_url=self.rest_url, stream_url=self.stream_url, symbols=len(self._specs))

    def trades(self, symbol: str) -> tuple[Trade, ...]:
        """Every trade the market has published for ``symbol`` so far, in id order."""
        return cast(tuple[Trade, ...], self._ask(GetTrades(normalize_symbol(symbol))))

    @property
    def connections_accepted(self) -> int:
        """Stream connections accepted since start (tests tell reconnects from live changes)."""
        return self.stats().connections_accepted

    def stats(self) -> SimulatorStats:
        return cast(SimulatorStats, self._ask(GetStats()))

    # Faults on demand. Each is carried out by the hub before the call returns.

    def drop_connections(self, close_frame: bool = True) -> int:
        """Disconnect every stream client now: a 1001 close frame first, or just cut the TCP socket."""
        return cast(int, self._ask(DropConnections(close_frame)))

    def stall_connections(self) -> int:
        """Every current stream connection stays open but says nothing more: no trades, replies or pings."""
        return cast(int, self._ask(StallConnections()))

    def skip_trades(self, symbol: str, count: int) -> None:
        """The next ``count`` trades of ``symbol`` are recorded (REST has them) but never streamed."""
        self._ask(SkipTrades(normalize_symbol(symbol), count))

    def corrupt_trades(self, symbol: str, count: int, kind: str) -> None:
        """The next ``count`` streamed trades of ``symbol`` lie as ``kind`` says (``price:NaN``,
        ``quantity:-1.5``, ``symbol:ETHUSDT``, ``time:+20s``...); the record, and so REST, keeps the truth."""
        self._ask(CorruptTrades(normalize_symbol(symbol), count, check_corruption(kind)))

    def send_malformed(self, count: int = 1, kinds: tuple[MalformedKind, ...] = KINDS) -> None:
        """Each stream connection receives ``count`` malformed frames, rotating among ``kinds``
        (by default the four kinds every client meets; ``malformed.HOSTILE_KINDS`` on demand)."""
        self._ask(SendMalformed(count, kinds))

    def fail_rest(
        self, status: int = 429, retry_after_s: int | str = 1, count: int = 1, paths: frozenset[str] = TRADE_PATHS
    ) -> None:
        """The next ``count`` requests to ``paths`` (by default the trade paths: trades,
        historicalTrades, aggTrades) answer ``status`` with ``Retry-After`` as given, odd values too."""
        self._ask(FailRest(status, str(retry_after_s), count, frozenset(paths)))

    def malform_rest(self, path: str, kind: str, count: int = 1) -> None:
        """The next ``count`` answers of ``path`` (``/api/v3/time``, ``exchangeInfo``, ``klines`` or
        ``uiKlines``) are malformed as ``kind`` says: ``not_json``, ``cut``, ``break:BTCUSDT``... (see ``hostile``)."""
        self._ask(MalformRest(path, check_answer_fault(path, kind), count))

    def skew_server_time(self, offset_ms: int) -> None:
        """From now on ``/api/v3/time`` says the exchange clock plus ``offset_ms`` (0: the truth again)."""
        self._ask(SkewServerTime(offset_ms))

    def server_shutdown(self, after_s: float = 1.0) -> int:
        """Send Binance's ``serverShutdown`` event to every stream connection and close it ``after_s`` later."""
        return cast(int, self._ask(ServerShutdown(after_s, time.monotonic())))

    def ignore_subscribes(self, count: int = 1) -> None:
        """The next ``count`` SUBSCRIBE requests are acknowledged but not carried out."""
        self._ask(IgnoreSubscribes(count))

    def _ask(self, query: object) -> Any:
        return self._running(self._hub).ask(query, timeout=ASK_TIMEOUT_S)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._streams is not None:
                self._streams.stop_accepting()
                self._close_clients()
                self._streams.close()
        finally:
            try:
                if self._rest is not None:
                    self._rest.stop()
            finally:
                if self._hub is not None:
                    self._hub.stop()
        log.info("simulator stopped")

    def _close_clients(self) -> None:
        try:
            self._running(self._hub).ask(
                CloseClients(CloseCode.GOING_AWAY, "server shutting down"), timeout=ASK_TIMEOUT_S
            )
        except (pykka.ActorDeadError, pykka.Timeout):
            log.warning("exchange hub gone; stream clients stay open until they leave")

    def _schedules(self, start_ms: int) -> list[Schedule]:
        replay = self.config.replay
        return [
            Schedule(
                replay.trades_from(start_ms)
                if replay is not None and spec.symbol == replay.symbol
                else random_trades(spec, self.config.seed, self.config.trades_per_second, start_ms)
            )
            for spec in self._specs
        ]

    @staticmethod
    def _running(part: _Part | None) -> _Part:
        if part is None:
            raise RuntimeError("the simulator is not started")
        return part

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
