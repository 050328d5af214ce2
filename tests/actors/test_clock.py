"""The clock's timer thread outliving its actor (the actor stops first) ends quietly; a
symbol's seconds wait for an upstream reader of it behind its socket, other symbols' do not;
the broadcaster hears of each second every symbol closed."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from candlecast.actors.clock import STUCK_AFTER_S, ClockActor, SecondTimer
from candlecast.exchange_time import NS_PER_MS, ExchangeTime
from candlecast.messages import AggregatorsChanged, GetClockStats, ReaderBehind, SecondElapsed
from candlecast.sim import Simulator
from tests.recorder import Recorder


SYMBOL = "BTCUSDT"


def held(clock: Any) -> dict[str, int]:
    stats = clock.ask(GetClockStats())
    return {"readers_behind": stats["readers_behind"], "seconds_waiting": stats["seconds_waiting"]}


def standing_still() -> ExchangeTime:
    """Exchange time that stands still at 0.5 s after the epoch until the clock measures an offset."""
    return ExchangeTime(monotonic_ns=lambda: 500 * NS_PER_MS, wall_ns=lambda: 500 * NS_PER_MS)
READING = frozenset({SYMBOL, "ETHUSDT"})


class Stopped(pykka.ThreadingActor):
    """Any actor: it is stopped before the timer starts."""


def test_a_timer_whose_clock_stopped_ends_without_an_error(monkeypatch: Any) -> None:
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    clock = Stopped.start()
    clock.stop()
    timer = SecondTimer(clock, grace_ms=0, now_ms=lambda: 10_500)
    timer.start()
    timer.join(timeout=5)
    assert not timer.is_alive() and failures == []


def test_seconds_wait_for_a_reader_behind_its_socket(simulator: Simulator) -> None:
    now = [100.0]
    # Exchange time stands still at 0.5 s: the timer's own tell (second -1) is the only one it makes.
    aggregator, broadcaster = Recorder.start(SecondElapsed), Recorder.start(SecondElapsed)
    clock = ClockActor.start(
        simulator.rest_url, grace_ms=0, exchange_time=standing_still(), monotonic=lambda: now[0], broadcaster=broadcaster,
    )
    try:
        clock.ask(AggregatorsChanged(aggregators=((SYMBOL, aggregator),)))

        def told() -> list[int]:
            return [told.second for told in aggregator.ask("told") if told.second >= 0]

        clock.ask(ReaderBehind("upstream-1.1", 12, READING))
        clock.ask(SecondElapsed(second=14))
        assert told() == [11], "the seconds the reader is still reading wait"
        assert held(clock) == {"readers_behind": 1, "seconds_waiting": 3}
        clock.ask(ReaderBehind("upstream-1.1", 13, READING))
        assert told() == [11, 12]
        clock.ask(ReaderBehind("upstream-1.1", None))
        assert told() == [11, 12, 14], "caught up: every due second closes"
        assert held(clock) == {"readers_behind": 0, "seconds_waiting": 0}
        clock.ask(ReaderBehind("upstream-2.1", 15, READING))
        clock.ask(SecondElapsed(second=16))
        assert told() == [11, 12, 14]
        now[0] += STUCK_AFTER_S + 1
        clock.ask(SecondElapsed(second=17))
        assert told() == [11, 12, 14, 17], "a reader that stopped saying so holds nothing back"
        assert [told.second for told in broadcaster.ask("told") if told.second >= 0] == [11, 12, 14, 17], \
            "the broadcaster hears of every second closed, for the candles waiting for it"
    finally:
        clock.stop()
        aggregator.stop()
        broadcaster.stop()


def test_a_reader_behind_holds_only_its_own_symbols(simulator: Simulator) -> None:
    behind, on_time, broadcaster = (Recorder.start(SecondElapsed) for _ in range(3))
    clock = ClockActor.start(simulator.rest_url, grace_ms=0, exchange_time=standing_still(), broadcaster=broadcaster)

    def told(recorder: Any) -> list[int]:
        return [told.second for told in recorder.ask("told") if told.second >= 0]

    try:
        clock.ask(AggregatorsChanged(aggregators=(("BTCUSDT", behind), ("SOLUSDT", on_time))))
        clock.ask(ReaderBehind("upstream-1.1", 12, frozenset({"BTCUSDT"})))
        clock.ask(SecondElapsed(second=13))
        clock.ask(SecondElapsed(second=14))
        assert told(behind) == [11]
        assert told(on_time) == [13, 14], "another reader's symbol closes on time"
        assert told(broadcaster) == [11], "the broadcaster hears of a second once every symbol closed it"
        assert held(clock) == {"readers_behind": 1, "seconds_waiting": 3}
        clock.ask(ReaderBehind("upstream-1.1", None))
        assert told(behind) == [11, 14] and told(on_time) == [13, 14] and told(broadcaster) == [11, 14]
        clock.ask(ReaderBehind("upstream-1.1", 15, frozenset({"BTCUSDT"})))  # behind, in a second not yet due
        assert told(behind) == [11, 14]
        clock.ask(SecondElapsed(second=15))
        assert told(behind) == [11, 14] and told(on_time) == [13, 14, 15], "15 due now: held for the reader"
        clock.ask(ReaderBehind("upstream-1.1", 16, frozenset({"BTCUSDT"})))
        assert told(behind) == [11, 14, 15] and told(broadcaster) == [11, 14, 15], "read past 15: it closes"
    finally:
        for actor in (clock, behind, on_time, broadcaster):
            actor.stop()
