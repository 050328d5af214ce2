"""A symbol's seconds wait for an upstream reader of it behind its socket, other symbols' do not;
the broadcaster hears of each second every symbol closed. The exchange's clock, wrong, moving
or answering garbage, and the machine's wall clock stepping: no second closes before the
exchange's time passes it, and none stops closing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from candlecast.actors.clock import STUCK_AFTER_S, ClockActor
from candlecast.clock.exchange_time import NS_PER_MS, ExchangeTime
from candlecast.clock.seconds import TRUST_WAIT_S
from candlecast.messages.clock import (
    AggregatorsChanged,
    ClockOffsetMeasured,
    ClockStats,
    GetClockStats,
    ReaderBehind,
    SecondElapsed,
)
from candlecast.messages.supervision import GetComponents
from candlecast.sim import Simulator
from tests.clients import wait_for
from tests.conftest import make_simulator
from tests.recorder import Recorder
from tests.time_server import TimeServer, true_time

SYMBOL = "BTCUSDT"
BOUND = 10_000


def held(clock: Any) -> dict[str, int]:
    stats = clock.ask(GetClockStats())
    return {"readers_behind": stats.readers_behind, "seconds_waiting": stats.seconds_waiting}


def standing_still() -> ExchangeTime:
    """Exchange time that stands still at 0.5 s after the epoch: the exchange's readings are
    refused, being decades from this wall clock."""
    return ExchangeTime(monotonic_ns=lambda: 500 * NS_PER_MS, wall_ns=lambda: 500 * NS_PER_MS)


READING = frozenset({SYMBOL, "ETHUSDT"})


def test_seconds_wait_for_a_reader_behind_its_socket(simulator: Simulator) -> None:
    now = [100.0]
    # Exchange time stands still at 0.5 s: the timer's own tell (second -1) is the only one it makes.
    aggregator, broadcaster = Recorder.start(SecondElapsed), Recorder.start(SecondElapsed)
    clock = ClockActor.start(
        rest_url=simulator.rest_url,
        grace_ms=0,
        max_offset_ms=BOUND,
        exchange_time=standing_still(),
        monotonic=lambda: now[0],
        broadcaster=broadcaster,
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
        assert [told.second for told in broadcaster.ask("told") if told.second >= 0] == [11, 12, 14, 17], (
            "the broadcaster hears of every second closed, for the candles waiting for it"
        )
    finally:
        clock.stop()
        aggregator.stop()
        broadcaster.stop()


def test_a_reader_behind_holds_only_its_own_symbols(simulator: Simulator) -> None:
    behind, on_time, broadcaster = (Recorder.start(SecondElapsed) for _ in range(3))
    clock = ClockActor.start(
        rest_url=simulator.rest_url,
        grace_ms=0,
        max_offset_ms=BOUND,
        exchange_time=standing_still(),
        broadcaster=broadcaster,
    )

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


def local_ms() -> int:
    return time.time_ns() // NS_PER_MS


class Watched:
    """A clock actor telling one recorded aggregator, over ``exchange_time``."""

    def __init__(self, rest_url: str, exchange_time: ExchangeTime) -> None:
        self.exchange_time = exchange_time
        self.aggregator = Recorder.start(SecondElapsed)
        self.clock = ClockActor.start(rest_url=rest_url, grace_ms=0, max_offset_ms=BOUND, exchange_time=exchange_time)
        self.clock.ask(AggregatorsChanged(aggregators=((SYMBOL, self.aggregator),)))

    def stats(self) -> ClockStats:
        return self.clock.ask(GetClockStats())

    def told(self) -> list[int]:
        return [told.second for told in self.aggregator.ask("told")]

    def told_up_to(self, second: int) -> bool:
        told = self.told()
        return bool(told) and told[-1] >= second

    def first_told(self) -> int:
        wait_for(self.told, timeout=TRUST_WAIT_S + 5)
        return self.told()[0]

    def assert_none_ahead_of(self, now_ms: Callable[[], int]) -> None:
        """Every second told has ended by ``now_ms``: none was closed before it happened."""
        told, now = self.told(), now_ms()
        assert told and all((second + 1) * 1000 <= now for second in told), (told[-1], now)

    def stop(self) -> None:
        self.clock.stop()
        self.aggregator.stop()


@pytest.fixture
def watched_clocks() -> Iterator[Callable[[str, ExchangeTime], Watched]]:
    started: list[Watched] = []

    def start(rest_url: str, exchange_time: ExchangeTime) -> Watched:
        started.append(Watched(rest_url, exchange_time))
        return started[-1]

    yield start
    for watched in started:
        watched.stop()


def test_an_exchange_clock_20_s_off_is_refused_and_seconds_close_on_the_local_clock(
    watched_clocks: Callable[[str, ExchangeTime], Watched],
) -> None:
    simulator = make_simulator(time_offset_ms=20_000)
    simulator.start()
    try:
        with capture_logs() as logs:
            watched = watched_clocks(simulator.rest_url, ExchangeTime())
            wait_for(lambda: watched.stats().offsets_refused >= 1)
            offset_ms = watched.exchange_time.offset_ms
            for _ in range(2):  # the same reading again: counted, not logged again
                watched.clock.ask(ClockOffsetMeasured(offset_ms=offset_ms + 20_000, round_trip_ms=1))
        stats = watched.stats()
        assert stats.in_sync is False and stats.offset_ms is None and stats.offsets_refused >= 3
        assert watched.exchange_time.offset_ms == offset_ms, "the local clock's offset is kept"
        refusals = [entry for entry in logs if entry["event"].startswith("exchange clock reading refused")]
        assert len(refusals) == 1 and refusals[0]["log_level"] == "warning"
        assert refusals[0]["reason"] == "too far from the local clock" and refusals[0]["offset_ms"] >= 19_000
        first = watched.first_told()  # with no trades to tell whose clock is right, after TRUST_WAIT_S
        wait_for(lambda: watched.told_up_to(first + 2))
        watched.assert_none_ahead_of(local_ms)
    finally:
        simulator.stop()


@pytest.mark.parametrize(
    "answer",
    [
        b'{"serverTime": true}',
        b'{"serverTime": 1e300}',
        b'{"serverTime": 123456789012345678901234567890}',
        b'{"serverTime": "1765000000000"}',
        b"[]",
    ],
)
def test_a_malformed_time_answer_is_a_retried_failure_never_a_reading(
    simulator: Simulator,
    watched_clocks: Callable[[str, ExchangeTime], Watched],
    answer: bytes,
) -> None:
    with TimeServer(simulator.rest_url) as server, capture_logs() as logs:
        answers = [answer]
        good = true_time()
        server.answer = lambda: answers.pop() if answers else good()
        watched = watched_clocks(server.url, ExchangeTime())
        wait_for(lambda: watched.stats().in_sync)
        assert server.time_requests == 2 and watched.stats().offsets_refused == 0
        assert abs(watched.exchange_time.now_ms() - local_ms()) < 1000
        failures = [entry for entry in logs if entry["event"] == "upstream request failed"]
        assert len(failures) == 1 and "/api/v3/time" in failures[0]["error"], "one clear warning, no traceback"
        assert watched.clock.ask(GetComponents())["clock-sync"].restarts == 0
        first = watched.first_told()
        wait_for(lambda: watched.told_up_to(first + 1))
        watched.assert_none_ahead_of(local_ms)


def test_an_offset_stepped_forward_then_back_closes_every_second_once_in_order(
    simulator: Simulator,
    watched_clocks: Callable[[str, ExchangeTime], Watched],
) -> None:
    watched = watched_clocks(simulator.rest_url, ExchangeTime())
    wait_for(lambda: watched.stats().in_sync)
    watched.first_told()
    wall_offset_ms = watched.exchange_time.wall_offset_ms()
    watched.clock.ask(ClockOffsetMeasured(offset_ms=wall_offset_ms + 3_000, round_trip_ms=1))
    ahead = (local_ms() + 3_000) // 1000 - 1
    wait_for(lambda: watched.told_up_to(ahead))
    watched.clock.ask(ClockOffsetMeasured(offset_ms=wall_offset_ms, round_trip_ms=1))
    assert watched.stats().in_sync is True and watched.stats().offsets_refused == 0
    wait_for(lambda: watched.told_up_to(ahead + 2), timeout=15)
    told = watched.told()
    assert told == list(range(told[0], told[-1] + 1)), "every second once, in order, none skipped"
    watched.assert_none_ahead_of(watched.exchange_time.now_ms)


def test_a_step_of_the_wall_clock_is_counted_and_leaves_exchange_time_alone(
    simulator: Simulator,
    watched_clocks: Callable[[str, ExchangeTime], Watched],
) -> None:
    step_ns = [0]
    watched = watched_clocks(simulator.rest_url, ExchangeTime(wall_ns=lambda: time.time_ns() + step_ns[0]))
    wait_for(lambda: watched.stats().in_sync)
    step_ns[0] = 20_000 * NS_PER_MS  # the machine's clock is stepped wrong by 20 s
    wait_for(lambda: watched.stats().offsets_refused == 1)
    stats = watched.stats()
    assert stats.wall_clock_steps == 1 and stats.in_sync is False and abs(stats.offset_ms) < 1000
    assert abs(watched.exchange_time.now_ms() - local_ms()) < 1000, "the exchange's clock was read again: it agrees"
    watched.assert_none_ahead_of(local_ms)


def test_after_a_suspend_the_exchange_clock_is_read_again_at_once(
    simulator: Simulator,
    watched_clocks: Callable[[str, ExchangeTime], Watched],
) -> None:
    """Suspended, the monotonic clock stands still while the world's time goes on: on waking,
    the wall clock and the exchange's are both 20 s ahead of where the monotonic one says."""
    slept_ms = [0]

    def shifted_by_the_sleep() -> bytes:
        return true_time(slept_ms[0])()

    with TimeServer(simulator.rest_url) as server:
        server.answer = shifted_by_the_sleep
        exchange_time = ExchangeTime(wall_ns=lambda: time.time_ns() + slept_ms[0] * NS_PER_MS)
        watched = watched_clocks(server.url, exchange_time)
        wait_for(lambda: watched.stats().in_sync)
        slept_ms[0] = 20_000
        wait_for(lambda: server.time_requests == 2 and watched.stats().in_sync)
        stats = watched.stats()
        assert stats.wall_clock_steps == 1 and stats.offsets_refused == 0 and abs(stats.offset_ms) < 1000
        assert abs(exchange_time.now_ms() - (local_ms() + 20_000)) < 1000
        awake = (local_ms() + 20_000) // 1000 - 1
        wait_for(lambda: watched.told_up_to(awake))
        told = watched.told()
        assert told == list(range(told[0], told[-1] + 1)), "the seconds slept through close in turn"
