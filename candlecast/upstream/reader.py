"""The thread that owns one upstream WebSocket: connect, read, parse, check, reconnect.

It parses off the connection actor's thread and only ever tells: its actor (state, replies,
rejected frames, rotation due), the trade listeners every 10 ms (``Arrivals``), each symbol's
aggregator its held trades (``HeldTrades``), and the clock while behind (``ReadProgress``).
Anything unexpected costs the socket, never the thread: it reconnects and the gap is backfilled.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pykka
import structlog
import websocket
from limits import RateLimitItem

from candlecast.actors.base import tell_if_alive
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.market_data import Trade, TradeBatch, TradesArrived
from candlecast.messages.clock import ReaderBehind, TradeClock
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.upstream import (
    ControlReplied,
    FrameRejected,
    FramesArriving,
    RotationDue,
    RotationReason,
    TradeRejected,
    UpstreamConnected,
    UpstreamDisconnected,
)
from candlecast.runtime.backoff import full_jitter
from candlecast.runtime.rate_window import RateWindow
from candlecast.runtime.threads import StoppableThread
from candlecast.upstream import binance, ws_frames
from candlecast.upstream.arrivals import Arrivals
from candlecast.upstream.connect_attempts import ConnectAttempts
from candlecast.upstream.frame_reader import FrameReader, UpstreamClosed
from candlecast.upstream.held_trades import HeldTrades
from candlecast.upstream.read_progress import ReadProgress

CONNECT_TIMEOUT_S = 3.0
# Held trades go to their aggregator this long after their second ends (at most a quarter of
# the clock's grace, so they arrive before it closes the second), for stragglers on the wire.
SETTLE_S = 0.02
FULL_BATCH = 256
MAX_HOLD_S = 0.25
TELL_LISTENERS_EVERY_S = 0.01
STABLE_CONNECTION_S = 30.0
MAX_POLL_S = 1.0
REPORT_EVERY_S = 1.0
TRADE_CLOCK_SAMPLES = 512  # trades a report's median is taken over, at most
TRADE_CLOCK_MIN_SAMPLES = 5
REASON_CHARS = 200


@dataclasses.dataclass(frozen=True)
class ReaderOptions:
    """How one reader connects, what it accepts and when it gives its socket up; ``lifetime_s``
    None: never. A trade's time must lie within ``max_trade_behind_ms`` before and
    ``max_trade_ahead_ms`` after the exchange's time as it is read; ``max_rejects``: the rates
    of rejected frames a socket may reach (none: any)."""

    stream_url: str
    reconnect_cap_s: float
    stale_after_s: float
    lifetime_s: float | None
    connect_attempts: ConnectAttempts
    grace_ms: int
    trade_listeners: tuple[Any, ...]
    clock: Any
    exchange_time: ExchangeTime
    max_trade_ahead_ms: int
    max_trade_behind_ms: int
    max_rejects: tuple[RateLimitItem, ...]


class UpstreamReader(StoppableThread):
    def __init__(
        self,
        *,
        connection: Any,
        connection_id: int,
        reader_id: int,
        options: ReaderOptions,
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        super().__init__(f"upstream-{connection_id}.{reader_id}", on_ended)
        # Replaced (never mutated) by the connection actor whenever its symbol set changes.
        self.routes: Mapping[str, Any] = MappingProxyType({})
        self.reader_id = reader_id
        self._connection = connection
        self._options = options
        self._socket: websocket.WebSocket | None = None
        self._rotation_asked = False
        self._trade_clock: list[int] = []  # trade time minus arrival, since the last report
        self._log = structlog.get_logger(__name__).bind(connection=connection_id, reader=reader_id)

    def stop(self) -> None:
        self.stopped.set()
        sock = self._socket
        if sock is not None:
            sock.abort()  # type: ignore[no-untyped-call]  # websocket-client leaves it unannotated
        super().stop()

    def loop(self) -> None:
        try:
            self._connect_and_read()
        except pykka.ActorDeadError:
            self.stopped.set()  # the connection actor is stopping: nobody to read for or report to

    def _connect_and_read(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            waited = self._options.connect_attempts.wait_turn(self.stopped)
            if waited < 0:
                return
            if waited >= MAX_POLL_S:
                self._log.info("connect attempt waited for the connection limit", waited_s=round(waited, 1))
            symbols = frozenset(self.routes)
            url = binance.combined_stream_url(self._options.stream_url, symbols)
            try:
                sock = websocket.create_connection(
                    url, timeout=CONNECT_TIMEOUT_S, skip_utf8_validation=True, enable_multithread=True
                )
            except (websocket.WebSocketException, OSError) as exc:
                self._wait_to_retry(failures, f"connect failed: {exc}")
                failures += 1
                continue
            opened_at_ms = self._options.exchange_time.monotonic_ms()
            self._socket = sock
            sock.settimeout(min(MAX_POLL_S, self._options.stale_after_s / 4))
            connected_at = time.monotonic()
            self._rotation_asked = False
            self._log.info("upstream connected", url=url[:200], streams=len(symbols))
            try:
                self._connection.tell(
                    UpstreamConnected(socket=sock, symbols=symbols, reader_id=self.reader_id, opened_at_ms=opened_at_ms)
                )
                reason = self._read(sock, connected_at)
            finally:
                self._socket = None
                sock.abort()  # type: ignore[no-untyped-call]  # websocket-client leaves it unannotated
                sock.close()
            if self.stopped.is_set():
                return
            if time.monotonic() - connected_at > STABLE_CONNECTION_S:
                failures = 0
            self._wait_to_retry(failures, f"disconnected: {reason}")
            failures += 1

    def _wait_to_retry(self, failures: int, reason: str) -> None:
        if self.stopped.is_set():
            return
        self._connection.tell(UpstreamDisconnected(reason=reason, reader_id=self.reader_id))
        delay = full_jitter(failures, 0.5, self._options.reconnect_cap_s)
        self._log.warning("upstream unavailable, retrying", reason=reason, retry_in_s=round(delay, 2))
        self.stopped.wait(delay)

    def _read(self, sock: websocket.WebSocket, connected_at: float) -> str:
        """Read until the connection fails; returns why. Trades still held go out either way."""
        held = HeldTrades(min(SETTLE_S, self._options.grace_ms / 4000), FULL_BATCH, MAX_HOLD_S)
        arrivals = Arrivals(TELL_LISTENERS_EVERY_S)
        progress = ReadProgress(self.name, self._options.grace_ms)
        frames = FrameReader(sock)
        rejects = tuple(RateWindow(limit) for limit in self._options.max_rejects)
        last_frame = last_report = connected_at
        try:
            while not self.stopped.is_set():
                now = time.monotonic()
                waits = [s for s in (held.wait_s(now), arrivals.wait_s(now)) if s is not None]
                if waits and not frames.readable(min(waits)):
                    now = time.monotonic()
                    self._deliver(held.take_due(now))
                    self._tell_listeners(arrivals.take_due(now))
                    continue
                try:
                    payloads = frames.read()
                except TimeoutError:
                    now = time.monotonic()
                    if now - last_frame >= self._options.stale_after_s:
                        return f"no frame for {self._options.stale_after_s:g} s"
                    self._check_lifetime(now - connected_at)
                    continue
                last_frame = time.monotonic()
                arrived, rejected, too_many = self._absorb(payloads, rejects, last_frame)
                if arrived:
                    held.add(arrived, last_frame)
                    arrivals.add(arrived, last_frame)
                for rejection in rejected:
                    self._deliver(held.take(rejection.symbol))
                    self._tell_aggregator(rejection)
                if too_many is not None:
                    return too_many
                self._tell_clock(
                    progress.after_read(frames.more_waiting, arrived, last_frame, self.routes), held, progress
                )
                self._deliver(held.take_due(last_frame))
                self._tell_listeners(arrivals.take_due(last_frame))
                if last_frame - last_report >= REPORT_EVERY_S:
                    self._connection.tell(FramesArriving(reader_id=self.reader_id, at=last_frame))
                    self._tell_trade_clock()
                    last_report = last_frame
                self._check_lifetime(last_frame - connected_at)
        except (websocket.WebSocketException, UpstreamClosed, OSError, ws_frames.ProtocolError) as exc:
            return str(exc) or type(exc).__name__
        except pykka.ActorDeadError:
            raise
        except Exception as exc:
            # A fault of ours, not the socket's: which trades it cost is unknown, so the socket
            # goes, and its streams are backfilled after the reconnect.
            self._log.exception("reading the upstream socket failed; reconnecting")
            return f"reader error: {type(exc).__name__}: {exc}"[:REASON_CHARS]
        finally:
            self._deliver(held.take_all())
            self._tell_listeners(arrivals.take_all())
            tell_if_alive(self._options.clock, ReaderBehind(self.name, None))
        return "stopped"

    def _check_lifetime(self, age_s: float) -> None:
        lifetime_s = self._options.lifetime_s
        if lifetime_s is not None and age_s >= lifetime_s:
            self._ask_rotation("lifetime reached")

    def _ask_rotation(self, reason: RotationReason) -> None:
        if not self._rotation_asked:
            self._rotation_asked = True
            self._connection.tell(RotationDue(reader_id=self.reader_id, reason=reason))

    def _absorb(  # noqa: PLR0912 (one pass over a read's frames, kept whole: it runs per trade)
        self, payloads: list[bytes], rejects: tuple[RateWindow, ...], now: float
    ) -> tuple[list[Trade], list[TradeRejected], str | None]:
        """The routed trades of one read's payloads, in arrival order, the routed trades it
        rejected, and why the socket must go if its rejections passed a rate; anything else is
        handled here."""
        routes = self.routes
        exchange_time = self._options.exchange_time
        read_at_ms = exchange_time.monotonic_ms()
        exchange_now_ms = read_at_ms + exchange_time.offset_ms
        earliest_ms = exchange_now_ms - self._options.max_trade_behind_ms
        latest_ms = exchange_now_ms + self._options.max_trade_ahead_ms
        trade_clock = self._trade_clock
        arrived: list[Trade] = []
        rejected: list[TradeRejected] = []
        too_many = None
        for payload in payloads:
            try:
                item: binance.Frame | str = binance.parse_frame(payload)
            except binance.MalformedFrame as exc:
                item = str(exc)
            except Exception as exc:  # a fault of the parser's costs one frame, not the reader
                self._log.exception("parsing an upstream frame failed")
                item = f"unexpected {type(exc).__name__}: {exc}"
            if isinstance(item, Trade):
                # Judged for its time here, not in the parser: what every trade says of the
                # exchange's clock counts, also when this process's idea of that clock is off.
                if len(trade_clock) < TRADE_CLOCK_SAMPLES:
                    trade_clock.append(item.time - read_at_ms)
                if not earliest_ms <= item.time <= latest_ms:
                    item = binance.time_fault(item, earliest_ms, latest_ms) or item
            if isinstance(item, Trade):
                if item.symbol in routes:
                    arrived.append(item)
            elif isinstance(item, str):  # why the frame was rejected
                rejection = self._reject(payload, item[:REASON_CHARS])
                if rejection is not None:
                    rejected.append(rejection)
                for window in rejects:
                    if not window.admit(now) and too_many is None:
                        too_many = f"more rejected frames than {window.limit}"
            elif isinstance(item, binance.ControlReply):
                self._connection.tell(ControlReplied(reply=item, read_at_ms=read_at_ms))
            elif isinstance(item, binance.ShutdownNotice):
                self._log.info("server announced shutdown")
                self._ask_rotation("serverShutdown")
        return arrived, rejected, too_many

    def _tell_trade_clock(self) -> None:
        """What this reader's trades since the last report say of the exchange's clock."""
        samples, self._trade_clock = self._trade_clock, []
        if len(samples) >= TRADE_CLOCK_MIN_SAMPLES:  # a median of a few trades, not one that may lie
            tell_if_alive(self._options.clock, TradeClock(self.name, sorted(samples)[len(samples) // 2]))

    def _reject(self, payload: bytes, reason: str) -> TradeRejected | None:
        """Count a rejected frame; the rejection to tell if it was a routed symbol's trade."""
        named = binance.rejected_trade(payload)
        rejection = None
        if named is not None and named[0] in self.routes:
            rejection = TradeRejected(symbol=named[0], trade_id=named[1], reason=reason)
        self._connection.tell(FrameRejected(reason=reason, trade=rejection is not None))
        return rejection

    def _tell_aggregator(self, message: TradeRejected) -> None:
        aggregator = self.routes.get(message.symbol)
        if aggregator is not None:
            tell_if_alive(aggregator, message)

    def _tell_clock(self, behind: ReaderBehind | None, held: HeldTrades, progress: ReadProgress) -> None:
        """Held trades of the seconds the clock may close go to their aggregators first."""
        if behind is None or progress.open_from is None:
            return
        self._deliver(held.take_before(progress.open_from))
        tell_if_alive(self._options.clock, behind)

    def _tell_listeners(self, arrived: TradesArrived | None) -> None:
        if arrived is None:
            return
        for listener in self._options.trade_listeners:
            tell_if_alive(listener, arrived)

    def _deliver(self, batches: list[TradeBatch]) -> None:
        routes = self.routes
        for batch in batches:
            aggregator = routes.get(batch.symbol)
            if aggregator is not None:
                tell_if_alive(aggregator, batch)
