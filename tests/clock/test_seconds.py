"""The clock's timer tells every second once, in order, never before exchange time has passed
it (plus grace), whatever the offset does; it tells of a step of the wall clock; and it ends
quietly when the clock actor it tells has stopped."""

from __future__ import annotations

import threading
from typing import Any

import pykka
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.clock.exchange_time import NS_PER_MS, ExchangeTime
from candlecast.clock.seconds import CATCH_UP_WAIT_MS, MAX_WAIT_MS, DueSeconds, SecondTimer
from candlecast.messages.base import Message
from candlecast.messages.clock import SecondElapsed, WallClockStepped
from tests.clients import wait_for
from tests.recorder import Recorder

NOW_MS = 1_765_000_000_000


def test_an_offset_stepped_forward_closes_each_second_in_turn() -> None:
    seconds = DueSeconds(grace_ms=0)
    assert seconds.next(100_000) == (99, 1000)
    told = []
    now = 105_100  # the offset stepped 5 s forward: seconds 100 to 104 have passed
    for _ in range(5):
        second, wait_ms = seconds.next(now)
        told.append(second)
        now += wait_ms
    assert told == [100, 101, 102, 103, 104], "one second at a time, not a burst of five"
    assert seconds.next(now) == (105, 1000), "then on time again"


def test_an_offset_stepped_back_keeps_closing_seconds_once_exchange_time_passes_them() -> None:
    seconds = DueSeconds(grace_ms=250)
    assert seconds.next(100_250) == (99, 1000)
    assert seconds.next(95_500) == (None, MAX_WAIT_MS), "5 s back: nothing is told again"
    assert seconds.next(101_249) == (None, 1), "second 100 ends at 101 s, plus grace"
    assert seconds.next(101_250) == (100, 1000)


@settings(max_examples=200, deadline=None)
@given(
    grace_ms=st.integers(0, 2000),
    moves=st.lists(st.tuples(st.booleans(), st.integers(-10_000, 10_000)), min_size=1, max_size=60),
)
def test_every_second_is_told_once_in_order_and_only_once_exchange_time_passed_it(
    grace_ms: int,
    moves: list[tuple[bool, int]],
) -> None:
    """Each move either lets the timer sleep as it asked (plus a late wake) or steps the offset."""
    seconds = DueSeconds(grace_ms)
    monotonic, offset = 0, NOW_MS
    told: list[int] = []
    for sleeps, amount in moves:
        exchange_now = monotonic + offset
        due = (exchange_now - grace_ms) // 1000 - 1
        last = seconds.last_told
        second, wait_ms = seconds.next(exchange_now)
        if second is not None:
            told.append(second)
            assert second <= due, "never a second exchange time has not passed"
        assert (second is not None) == (last is None or due > last), "never frozen, never told twice"
        assert 0 < wait_ms <= MAX_WAIT_MS
        if seconds.last_told < due:
            assert wait_ms == CATCH_UP_WAIT_MS, "behind: the next second a moment later"
        else:
            assert exchange_now + wait_ms <= (seconds.last_told + 2) * 1000 + grace_ms, "no sleep past one due"
        if sleeps:
            monotonic += wait_ms + abs(amount) // 10
        else:
            offset += amount
    assert told == list(range(told[0], told[0] + len(told))), "each second in turn"


class Stopped(pykka.ThreadingActor):
    """Any actor: it is stopped before the timer starts."""


def test_a_timer_whose_clock_stopped_ends_without_an_error(monkeypatch: Any) -> None:
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    clock = Stopped.start()
    clock.stop()
    timer = SecondTimer(
        clock=clock,
        grace_ms=0,
        exchange_time=ExchangeTime(monotonic_ns=lambda: 500 * NS_PER_MS, wall_ns=lambda: 500 * NS_PER_MS),
    )
    timer.start()
    timer.join(timeout=5)
    assert not timer.is_alive() and failures == []


def test_the_timer_tells_of_a_wall_clock_step_and_closes_each_second_once_in_order() -> None:
    """Injected clocks standing still but for the test's moves."""
    monotonic, wall_step = [10_000 * NS_PER_MS], [0]
    exchange_time = ExchangeTime(monotonic_ns=lambda: monotonic[0], wall_ns=lambda: monotonic[0] + wall_step[0])
    clock = Recorder.start(Message)
    timer = SecondTimer(clock=clock, grace_ms=0, exchange_time=exchange_time)
    timer.start()
    try:

        def told() -> list[Any]:
            return clock.ask("told")

        wait_for(told)
        first = told()[0].second
        wall_step[0] = 20_000 * NS_PER_MS
        wait_for(lambda: any(isinstance(message, WallClockStepped) for message in told()))
        assert [m for m in told() if isinstance(m, WallClockStepped)] == [WallClockStepped(step_ms=20_000)]
        assert [m.second for m in told() if isinstance(m, SecondElapsed)] == [first], "exchange time stood still"
        exchange_time.offset_ms += 5_000
        wait_for(lambda: told()[-1] == SecondElapsed(second=first + 5))
        assert [m.second for m in told() if isinstance(m, SecondElapsed)] == list(range(first, first + 6))
        exchange_time.offset_ms -= 3_000
        monotonic[0] += 4_000 * NS_PER_MS
        wait_for(lambda: told()[-1] == SecondElapsed(second=first + 6), timeout=5)
        assert [m.second for m in told() if isinstance(m, SecondElapsed)] == list(range(first, first + 7))
    finally:
        timer.stop()
        clock.stop()
