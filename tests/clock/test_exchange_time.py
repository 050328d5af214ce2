"""What the clock believes of the exchange's time: a reading is used only when believable, an
``/api/v3/time`` answer is epoch milliseconds or a retried failure, and the timer tells every
second once, in order, never before exchange time has passed it, whatever the offset does."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.actors.clock import CATCH_UP_WAIT_MS, MAX_WAIT_MS, DueSeconds, server_time_ms
from candlecast.clock.exchange_time import MAX_ROUND_TRIP_MS, NS_PER_MS, TRADES_SLACK_MS, ExchangeTime, refusal
from candlecast.upstream.rest_client import UpstreamUnavailable

BOUND = 10_000
NOW_MS = 1_765_000_000_000


def test_the_exchange_clock_runs_on_the_monotonic_clock_and_ignores_wall_clock_steps() -> None:
    monotonic, wall = [5_000 * NS_PER_MS], [NOW_MS * NS_PER_MS]
    exchange_time = ExchangeTime(monotonic_ns=lambda: monotonic[0], wall_ns=lambda: wall[0])
    assert exchange_time.now_ms() == NOW_MS
    wall[0] += 20_000 * NS_PER_MS
    assert exchange_time.now_ms() == NOW_MS, "a step of the wall clock moves nothing"
    assert exchange_time.wall_offset_ms() - exchange_time.offset_ms == 20_000, "but it shows"
    monotonic[0] += 1_500 * NS_PER_MS
    assert exchange_time.now_ms() == NOW_MS + 1_500


@pytest.mark.parametrize(
    ("skew_ms", "round_trip_ms", "last_skew_ms", "refused"),
    [
        (0, 5, None, None),
        (BOUND, MAX_ROUND_TRIP_MS, None, None),
        (-BOUND, 5, 0, None),
        (20_000, 5, None, "too far from the local clock"),
        (-20_000, 5, 0, "too far from the local clock"),
        (8_000, 5, -8_000, "too far from the last reading used"),
        (-6_000, 5, 5_000, "too far from the last reading used"),
        (0, MAX_ROUND_TRIP_MS + 1, 0, "round trip too long"),
    ],
)
def test_a_reading_is_used_only_near_the_local_clock_and_the_last_reading_used(
    skew_ms: int,
    round_trip_ms: int,
    last_skew_ms: int | None,
    refused: str | None,
) -> None:
    assert refusal(skew_ms, round_trip_ms, last_skew_ms, BOUND) == refused


@pytest.mark.parametrize(
    ("skew_ms", "trades_lead_ms", "refused"),
    [
        (20_000, 40, None),  # the local clock is off: the reading and the trades agree
        (-20_000, 0, None),
        (20_000, -TRADES_SLACK_MS, None),
        (0, 20_000, "not the time the trades show"),  # the reading is off: the trades disagree
        (0, -TRADES_SLACK_MS - 1, "not the time the trades show"),
        (0, BOUND + 1, "not the time the trades show"),
    ],
)
def test_where_trades_tell_the_time_a_reading_is_judged_by_them_not_by_the_local_clock(
    skew_ms: int,
    trades_lead_ms: int,
    refused: str | None,
) -> None:
    assert refusal(skew_ms, 5, None, BOUND, trades_lead_ms) == refused


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "1765000000000",
        1765000000000,
        {},
        {"time": NOW_MS},
        {"serverTime": None},
        {"serverTime": True},
        {"serverTime": "1765000000000"},
        {"serverTime": float(NOW_MS)},
        {"serverTime": math.nan},
        {"serverTime": math.inf},
        {"serverTime": -NOW_MS},
        {"serverTime": 0},
        {"serverTime": 10**30},
        {"serverTime": [NOW_MS]},
        {"serverTime": {"serverTime": NOW_MS}},
    ],
)
def test_an_answer_without_a_sane_server_time_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamUnavailable, match="/api/v3/time"):
        server_time_ms(answer)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.dictionaries(st.just("serverTime"), json_values, min_size=1)))
def test_any_answer_gives_epoch_milliseconds_or_an_upstream_failure(answer: Any) -> None:
    try:
        server_time = server_time_ms(answer)
    except UpstreamUnavailable:
        return
    assert type(server_time) is int and 10**12 <= server_time < 10**13


def test_a_good_answer_gives_its_server_time() -> None:
    assert server_time_ms({"serverTime": NOW_MS}) == NOW_MS


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
