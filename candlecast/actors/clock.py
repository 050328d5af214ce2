"""The clock: tells every aggregator when an exchange-time second (plus grace) has passed, and
the broadcaster, whose candles waiting for the rest of their second then go.

Exchange time (``ExchangeTime``) is the monotonic clock plus the offset measured against
``/api/v3/time``, so seconds close on the exchange's boundaries even when the local clock is off.
A reading too far from the local wall clock (``--max-clock-offset-ms``), or from the last one
used, is refused and the last one kept; a step of the wall clock, which the timer watches for,
has the exchange's clock read again at once.

A second of a symbol also waits for every upstream reader of that symbol behind its socket
to read past it (``ReaderBehind``, see ``read_progress``): its trades are in the socket, not
late. Other readers' symbols close on time: one socket's burst does not hold every candle. A
reader that has not said so again for ``STUCK_AFTER_S`` no longer holds seconds back. The
broadcaster hears of a second once every symbol has closed it.
"""

from __future__ import annotations

import reprlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.clock.exchange_time import ExchangeTime, refusal
from candlecast.messages.clock import (
    AggregatorsChanged,
    ClockOffsetMeasured,
    ClockStats,
    GetClockStats,
    ReaderBehind,
    SecondElapsed,
    TradeClock,
    WallClockStepped,
)
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.poller import Poller
from candlecast.runtime.supervision import Supervisor
from candlecast.runtime.threads import StoppableThread
from candlecast.upstream.rest_client import UpstreamUnavailable, get_json

TIME_SYNC_INTERVAL_S = 300.0
RESYNC_AFTER_REFUSAL_S = 10.0
MIN_SYNC_GAP_S = 1.0  # between two readings, however often one is asked for
STUCK_AFTER_S = 5.0
TRUST_WAIT_S = 10.0  # at start, how long seconds wait for the exchange's clock to be known
TRADE_CLOCK_FRESH_S = 30.0  # what a reader's trades said of the time counts this long
MAX_WAIT_MS = 1000  # the timer looks at least this often, for a changed offset or a wall-clock step
CATCH_UP_WAIT_MS = 100  # between seconds told while catching up
WALL_STEP_MS = 1000  # wall minus monotonic moving more than this between two wakes is a step
# serverTime must lie between 2001 and 2286: anything else is not epoch milliseconds.
SERVER_TIME_RANGE_MS = range(10**12, 10**13)


def server_time_ms(answer: Any) -> int:
    """The ``serverTime`` of an ``/api/v3/time`` answer; anything else raises
    ``UpstreamUnavailable``, a failure the poller retries like a missing network."""
    if not isinstance(answer, dict):
        raise UpstreamUnavailable(f"GET /api/v3/time: not an object: {reprlib.repr(answer)}")
    if "serverTime" not in answer:
        raise UpstreamUnavailable(f"GET /api/v3/time: no serverTime in {reprlib.repr(answer)}")
    server_time = answer["serverTime"]
    if type(server_time) is not int or server_time not in SERVER_TIME_RANGE_MS:
        raise UpstreamUnavailable(f"GET /api/v3/time: serverTime {reprlib.repr(server_time)} is not epoch ms")
    return server_time


def measure_offset(rest_url: str, monotonic_ms: Callable[[], int]) -> ClockOffsetMeasured:
    """Exchange time minus monotonic time, assuming the reply was made halfway through the request."""
    sent = monotonic_ms()
    server_time = server_time_ms(get_json(rest_url, "/api/v3/time"))
    received = monotonic_ms()
    return ClockOffsetMeasured(offset_ms=server_time - (sent + received) // 2, round_trip_ms=received - sent)


class SyncSchedule:
    """When the exchange's clock is next read: at once, then ``interval_s`` after each reading,
    or sooner when asked (a refused reading, a wall-clock step). Shared by the clock actor,
    which asks, and its sync poller, which waits for its turn."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next_at = time.monotonic()
        self._closed = False
        self._changed = threading.Condition()

    def wait_turn(self) -> bool:
        """Returns once a reading is due: True; or once closed: False."""
        with self._changed:
            while not self._closed:
                remaining = self._next_at - time.monotonic()
                if remaining <= 0:
                    return True
                self._changed.wait(remaining)
            return False

    def measured(self) -> None:
        with self._changed:
            self._next_at = time.monotonic() + self._interval_s

    def soon(self, delay_s: float) -> None:
        """The next reading at most ``delay_s`` from now."""
        with self._changed:
            self._next_at = min(self._next_at, time.monotonic() + delay_s)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class DueSeconds:
    """Which second the timer tells next, and how long it waits before it looks again.

    Never a second told before, never one exchange time has not passed (plus grace). Behind
    (a late wake, an offset stepped forward) it tells each second in turn, a moment apart, so
    the candles of several seconds do not go out in one burst; after an offset stepped back,
    it tells the next second once exchange time passes it.
    """

    def __init__(self, grace_ms: int) -> None:
        self._grace_ms = grace_ms
        self.last_told: int | None = None

    def next(self, exchange_now_ms: int) -> tuple[int | None, int]:
        """The second to tell now (None: none) and the milliseconds to wait before asking again."""
        due = (exchange_now_ms - self._grace_ms) // 1000 - 1
        told = None
        if self.last_told is None or due > self.last_told:
            told = self.last_told = due if self.last_told is None else self.last_told + 1
        if self.last_told < due:
            return told, CATCH_UP_WAIT_MS
        next_due_at = (self.last_told + 2) * 1000 + self._grace_ms
        return told, min(MAX_WAIT_MS, next_due_at - exchange_now_ms)


class SecondTimer(StoppableThread):
    """Wakes at each exchange second boundary plus grace and tells the clock actor; at every
    wake it also compares the wall clock with the monotonic one and tells of a step."""

    def __init__(
        self,
        clock: Any,
        grace_ms: int,
        exchange_time: ExchangeTime,
        on_ended: Callable[[ThreadEnded], object] | None = None,
        trusted: threading.Event | None = None,
    ) -> None:
        """``trusted``: set once the exchange's clock is known (a reading used, or the trades
        agreeing with the clock in use); the first second is told only then, or after
        ``TRUST_WAIT_S`` without it: a second told on a wrong clock cannot be taken back."""
        super().__init__("clock-timer", on_ended)
        self._clock = clock
        self._grace_ms = grace_ms
        self._exchange_time = exchange_time
        self._trusted = trusted

    def loop(self) -> None:
        if self._trusted is not None:
            deadline = time.monotonic() + TRUST_WAIT_S
            while not self._trusted.wait(0.05):
                if self.stopped.is_set() or time.monotonic() > deadline:
                    break
        seconds = DueSeconds(self._grace_ms)
        wall_offset = self._exchange_time.wall_offset_ms()
        while not self.stopped.is_set():
            second, wait_ms = seconds.next(self._exchange_time.now_ms())
            told = second is None or tell_if_alive(self._clock, SecondElapsed(second=second))
            now_wall_offset = self._exchange_time.wall_offset_ms()
            if told and abs(now_wall_offset - wall_offset) > WALL_STEP_MS:
                told = tell_if_alive(self._clock, WallClockStepped(step_ms=now_wall_offset - wall_offset))
            if not told:
                self.owner_gone()
                return
            wall_offset = now_wall_offset
            self.stopped.wait(wait_ms / 1000)


class ClockActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        rest_url: str,
        grace_ms: int,
        max_offset_ms: int,
        exchange_time: ExchangeTime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        broadcaster: Any = None,
    ) -> None:
        """``max_offset_ms``: how far the exchange's clock may be from the local wall clock, and
        move between readings, before a reading is refused."""
        super().__init__(actor="clock")
        self._rest_url = rest_url
        self._grace_ms = grace_ms
        self._max_offset_ms = max_offset_ms
        self._exchange_time = exchange_time or ExchangeTime()
        self.supervisor = Supervisor()
        self._in_sync = False  # the latest reading of the exchange's clock was used
        self._skew_ms: int | None = None  # exchange minus local wall clock, by the last reading used
        self._synced_at: float | None = None  # when that reading was used
        self._offsets_refused = 0
        self._last_refused: tuple[str, int] | None = None  # (reason, skew in s): warned once
        self._trade_clocks: dict[str, tuple[int, float]] = {}  # reader -> (TradeClock offset, when)
        self._wall_clock_steps = 0
        self._aggregators: dict[str, Any] = {}  # by symbol
        self._broadcaster = broadcaster
        self._monotonic = monotonic
        self._due: int | None = None  # the latest second exchange time has passed (plus grace)
        self._told: dict[str, int] = {}  # the latest second each symbol's aggregator was told of
        self._told_all: int | None = None  # the latest second every symbol closed: the broadcaster's
        # reader -> (the first second it may still add to, the symbols it reads, when it said so)
        self._behind: dict[str, tuple[int, frozenset[str], float]] = {}
        self._schedule = SyncSchedule(TIME_SYNC_INTERVAL_S)
        self._trusted = threading.Event()
        self._timer = self._new_timer()
        self._sync = self._new_sync()

    def _tell_ended(self, ended: ThreadEnded) -> None:
        tell_if_alive(self.actor_ref, ended)

    def _new_timer(self) -> SecondTimer:
        return SecondTimer(
            self.actor_ref,
            self._grace_ms,
            self._exchange_time,
            on_ended=self._tell_ended,
            trusted=self._trusted,
        )

    def _new_sync(self) -> Poller[ClockOffsetMeasured | None]:
        return Poller(
            name="clock-sync",
            fetch=self._measure_in_turn,
            deliver=self._deliver_reading,
            interval_s=MIN_SYNC_GAP_S,
            retry_cap_s=60.0,
            on_ended=self._tell_ended,
        )

    def _measure_in_turn(self) -> ClockOffsetMeasured | None:
        """The sync poller's fetch: a reading once one is due; None once the clock stops."""
        if not self._schedule.wait_turn():
            return None
        reading = measure_offset(self._rest_url, self._exchange_time.monotonic_ms)
        self._schedule.measured()
        return reading

    def _deliver_reading(self, reading: ClockOffsetMeasured | None) -> None:
        if reading is not None:
            self.actor_ref.tell(reading)

    def on_start(self) -> None:
        self.supervisor.start(self._timer)
        self.supervisor.start(self._sync)

    def on_stop(self) -> None:
        self._schedule.close()
        self._sync.stop()
        self._timer.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case GetClockStats():
                return self._stats()
            case SecondElapsed(second=second):
                if self._due is None or second > self._due:  # a restarted timer may start behind
                    self._due = second
                    self._close_due()
            case ReaderBehind(reader=reader, second=None):
                self._release(self._behind.pop(reader, None))
            case ReaderBehind(reader=reader, second=int(second), symbols=symbols):
                previous = self._behind.get(reader)
                self._behind[reader] = (second, symbols, self._monotonic())
                if previous is not None and previous[0] < second:
                    self._release(previous)
            case AggregatorsChanged(aggregators=aggregators):
                self._aggregators = dict(aggregators)
                self._told = {symbol: told for symbol, told in self._told.items() if symbol in self._aggregators}
            case ClockOffsetMeasured():
                self._judge(message)
            case TradeClock(reader=reader, offset_ms=offset):
                self._trade_clocks[reader] = (offset, self._monotonic())
                trades = self._trades_offset_ms()
                if trades is not None and abs(trades - self._exchange_time.offset_ms) <= self._max_offset_ms:
                    self._trusted.set()  # the clock in use is the one the trades show
            case WallClockStepped(step_ms=step):
                self._wall_clock_steps += 1
                self._in_sync = False  # a suspend stops the monotonic clock too: known again once re-read
                self.log.warning("the machine's wall clock stepped; reading the exchange's clock again", step_ms=step)
                self._schedule.soon(0)
            case ThreadEnded():
                self._timer = self.supervisor.restart(message, self._timer, self._new_timer)
                self._sync = self.supervisor.restart(message, self._sync, self._new_sync)
        return None

    def _stats(self) -> ClockStats:
        waiting = self._due - self._told_all if self._due is not None and self._told_all is not None else 0
        return ClockStats(
            readers_behind=len(self._behind),
            seconds_waiting=waiting,
            in_sync=self._in_sync,
            offset_ms=self._skew_ms,
            offsets_refused=self._offsets_refused,
            wall_clock_steps=self._wall_clock_steps,
            last_sync_age_s=None if self._synced_at is None else round(self._monotonic() - self._synced_at, 1),
        )

    def _judge(self, reading: ClockOffsetMeasured) -> None:
        """Use a reading of the exchange's clock, or refuse it and keep the last one used."""
        exchange_time = self._exchange_time
        skew = reading.offset_ms - exchange_time.wall_offset_ms()
        trades = self._trades_offset_ms()
        lead = None if trades is None else reading.offset_ms - trades
        refused = refusal(skew, reading.round_trip_ms, self._skew_ms, self._max_offset_ms, lead)
        if refused is not None:
            self._offsets_refused += 1
            self._in_sync = False
            if (refused, round(skew / 1000)) != self._last_refused:
                self._last_refused = (refused, round(skew / 1000))
                self.log.warning(
                    "exchange clock reading refused; the last one used is kept",
                    reason=refused,
                    offset_ms=skew,
                    round_trip_ms=reading.round_trip_ms,
                    used_offset_ms=self._skew_ms,
                    max_offset_ms=self._max_offset_ms,
                )
            # Until trades tell the time too, a refusal may be the local clock's fault: ask again soon.
            self._schedule.soon(RESYNC_AFTER_REFUSAL_S if trades is not None else MIN_SYNC_GAP_S)
            return
        if self._skew_ms is None or abs(skew - self._skew_ms) > 50:
            self.log.info("exchange clock offset", offset_ms=skew)
        exchange_time.offset_ms = reading.offset_ms
        self._trusted.set()
        self._skew_ms = skew
        self._synced_at = self._monotonic()
        self._last_refused = None
        self._in_sync = True

    def _trades_offset_ms(self) -> int | None:
        """The median of what the readers' recent trades say of the exchange's offset, or None."""
        now = self._monotonic()
        recent = sorted(offset for offset, at in self._trade_clocks.values() if now - at <= TRADE_CLOCK_FRESH_S)
        return recent[len(recent) // 2] if recent else None

    def _release(self, hold: tuple[int, frozenset[str], float] | None) -> None:
        """A reader's hold ended or moved on: only its symbols may close more, and only if it
        held any second that is due. A reader a little behind, within the seconds not yet due,
        says so many times a second; each costs a look at nothing."""
        if hold is not None and self._due is not None and hold[0] <= self._due:
            self._close_due(hold[1])

    def _close_due(self, symbols: Iterable[str] | None = None) -> None:
        """Tell the aggregators of ``symbols`` (None: every one) the latest second that is due
        and that no reader of their symbol behind its socket is still reading."""
        if self._due is None:
            return
        due = self._due
        now = self._monotonic()
        for reader, (_, _, said_at) in list(self._behind.items()):
            if now - said_at > STUCK_AFTER_S:
                self.log.warning("upstream reader stopped reporting; seconds close without it", reader=reader)
                del self._behind[reader]
        holds = [(second - 1, reading) for second, reading, _ in self._behind.values() if second <= due and reading]
        aggregators = self._aggregators
        elapsed: dict[int, SecondElapsed] = {}  # one message per second told, shared by its aggregators
        for symbol in aggregators if symbols is None else symbols:
            aggregator = aggregators.get(symbol)
            if aggregator is None:
                continue
            closable = due
            for held_to, reading in holds:
                if held_to < closable and symbol in reading:
                    closable = held_to
            if closable > self._told.get(symbol, closable - 1):
                self._told[symbol] = closable
                told = elapsed.get(closable)
                if told is None:
                    told = elapsed[closable] = SecondElapsed(second=closable)
                tell_if_alive(aggregator, told)  # a removed one: AggregatorsChanged is on its way
        closed_by_all = min([due, *(held_to for held_to, _ in holds)])
        if self._told_all is None or closed_by_all > self._told_all:
            self._told_all = closed_by_all
            if self._broadcaster is not None:
                tell_if_alive(self._broadcaster, SecondElapsed(second=closed_by_all))
