"""The clock actor: tells every aggregator when an exchange second has closed (its end plus
grace, in exchange time), and the broadcaster once every symbol has closed it.

It keeps the exchange's clock true (readings of ``/api/v3/time`` judged against the wall clock
and the trades, a wall-clock step re-read at once), and holds a symbol's seconds while an
upstream reader of it is behind its socket (``ReaderBehind``). docs/seconds.md tells the whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.clock.exchange_time import ExchangeTime, refusal
from candlecast.clock.seconds import SecondTimer
from candlecast.clock.sync import SyncSchedule, measure_offset
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

TIME_SYNC_INTERVAL_S = 300.0
RESYNC_AFTER_REFUSAL_S = 10.0
MIN_SYNC_GAP_S = 1.0  # between two readings, however often one is asked for
STUCK_AFTER_S = 5.0
TRADE_CLOCK_FRESH_S = 30.0  # what a reader's trades said of the time counts this long


class ClockActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        *,
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
        self._trusted = self._exchange_time.known
        self._timer = self._new_timer()
        self._sync = self._new_sync()

    def _tell_ended(self, ended: ThreadEnded) -> None:
        tell_if_alive(self.actor_ref, ended)

    def _new_timer(self) -> SecondTimer:
        return SecondTimer(
            clock=self.actor_ref,
            grace_ms=self._grace_ms,
            exchange_time=self._exchange_time,
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
        refused = refusal(
            skew_ms=skew,
            round_trip_ms=reading.round_trip_ms,
            last_skew_ms=self._skew_ms,
            max_skew_ms=self._max_offset_ms,
            trades_lead_ms=lead,
        )
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
