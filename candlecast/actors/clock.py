"""The clock: tells every aggregator when an exchange-time second (plus grace) has passed, and
the broadcaster, whose candles waiting for the rest of their second then go.

Exchange time (``ExchangeTime``) is the monotonic clock plus the offset measured against
``/api/v3/time``, so seconds close on the exchange's boundaries even when the local clock is off.

A second of a symbol also waits for every upstream reader of that symbol behind its socket
to read past it (``ReaderBehind``, see ``read_progress``): its trades are in the socket, not
late. Other readers' symbols close on time: one socket's burst does not hold every candle. A
reader that has not said so again for ``STUCK_AFTER_S`` no longer holds seconds back. The
broadcaster hears of a second once every symbol has closed it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.actors.poller import Poller
from candlecast.actors.stoppable import StoppableThread
from candlecast.actors.supervision import Supervisor
from candlecast.exchange_time import ExchangeTime
from candlecast.messages import (
    AggregatorsChanged,
    ClockOffsetMeasured,
    GetClockStats,
    ReaderBehind,
    SecondElapsed,
    ThreadEnded,
)
from candlecast.rest_client import get_json

TIME_SYNC_INTERVAL_S = 300.0
STUCK_AFTER_S = 5.0


def measure_offset_ms(rest_url: str, monotonic_ms: Callable[[], int]) -> int:
    """Exchange time minus monotonic time, assuming the reply was made halfway through the request."""
    sent = monotonic_ms()
    server_time = get_json(rest_url, "/api/v3/time")["serverTime"]
    received = monotonic_ms()
    return int(server_time - (sent + received) // 2)


class SecondTimer(StoppableThread):
    """Wakes at each exchange second boundary plus grace and tells the clock actor."""

    def __init__(
        self, clock: Any, grace_ms: int, now_ms: Callable[[], int],
        on_ended: Callable[[ThreadEnded], object] | None = None,
    ) -> None:
        """``now_ms``: the exchange's current time, read at each wake."""
        super().__init__("clock-timer", on_ended)
        self._clock = clock
        self._grace_ms = grace_ms
        self._now_ms = now_ms

    def loop(self) -> None:
        last_told: int | None = None
        while not self.stopped.is_set():
            exchange_now = self._now_ms()
            due = (exchange_now - self._grace_ms) // 1000 - 1
            if last_told is None or due > last_told:
                if not tell_if_alive(self._clock, SecondElapsed(second=due)):
                    return  # the clock stopped before it could stop us
                last_told = due
            next_deadline = (last_told + 2) * 1000 + self._grace_ms
            self.stopped.wait(max(0.0, (next_deadline - exchange_now) / 1000))


class ClockActor(Actor):
    def __init__(
        self, rest_url: str, grace_ms: int, exchange_time: ExchangeTime | None = None,
        monotonic: Callable[[], float] = time.monotonic, broadcaster: Any = None,
    ) -> None:
        super().__init__(actor="clock")
        self._rest_url = rest_url
        self._grace_ms = grace_ms
        self._exchange_time = exchange_time or ExchangeTime()
        self.supervisor = Supervisor()
        self._in_sync = False  # an offset has been measured against the exchange
        self._aggregators: dict[str, Any] = {}  # by symbol
        self._broadcaster = broadcaster
        self._monotonic = monotonic
        self._due: int | None = None  # the latest second exchange time has passed (plus grace)
        self._told: dict[str, int] = {}  # the latest second each symbol's aggregator was told of
        self._told_all: int | None = None  # the latest second every symbol closed: the broadcaster's
        # reader -> (the first second it may still add to, the symbols it reads, when it said so)
        self._behind: dict[str, tuple[int, frozenset[str], float]] = {}
        self._timer = self._new_timer()
        self._sync = self._new_sync()

    def _tell_ended(self, ended: ThreadEnded) -> None:
        tell_if_alive(self.actor_ref, ended)

    def _new_timer(self) -> SecondTimer:
        return SecondTimer(self.actor_ref, self._grace_ms, self._exchange_time.now_ms, on_ended=self._tell_ended)

    def _new_sync(self) -> Poller[int]:
        return Poller(
            name="clock-sync",
            fetch=lambda: measure_offset_ms(self._rest_url, self._exchange_time.monotonic_ms),
            deliver=lambda offset: self.actor_ref.tell(ClockOffsetMeasured(offset_ms=offset)),
            interval_s=TIME_SYNC_INTERVAL_S,
            retry_cap_s=60.0,
            on_ended=self._tell_ended,
        )

    def on_start(self) -> None:
        self.supervisor.start(self._timer)
        self.supervisor.start(self._sync)

    def on_stop(self) -> None:
        self._sync.stop()
        self._timer.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case GetClockStats():
                waiting = self._due - self._told_all if self._due is not None and self._told_all is not None else 0
                return {"readers_behind": len(self._behind), "seconds_waiting": waiting, "in_sync": self._in_sync}
            case SecondElapsed(second=second):
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
            case ClockOffsetMeasured(offset_ms=offset):
                exchange_time = self._exchange_time
                if abs(offset - exchange_time.offset_ms) > 50:
                    self.log.info("exchange clock offset", offset_ms=offset - exchange_time.wall_offset_ms())
                exchange_time.offset_ms = offset
                self._in_sync = True
            case ThreadEnded():
                self._timer = self.supervisor.restart(message, self._timer, self._new_timer)
                self._sync = self.supervisor.restart(message, self._sync, self._new_sync)
        return None

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
