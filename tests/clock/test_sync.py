"""Reading the exchange's clock: an ``/api/v3/time`` answer is epoch milliseconds or a
retried failure, never a reading; the schedule reads at once, then after the interval, sooner
when asked, and lets its waiter go when closed."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.clock.sync import SyncSchedule, server_time_ms
from candlecast.upstream.rest_client import UpstreamUnavailable

NOW_MS = 1_765_000_000_000


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


def test_the_schedule_reads_at_once_then_after_the_interval_or_sooner_when_asked() -> None:
    now = [100.0]
    schedule = SyncSchedule(300.0, monotonic=lambda: now[0])
    assert schedule.wait_turn() is True, "the first reading is due at once"
    schedule.measured()
    now[0] += 300.0
    assert schedule.wait_turn() is True, "the next one after the interval"
    schedule.measured()
    schedule.soon(0)
    assert schedule.wait_turn() is True, "sooner when asked"
    schedule.measured()
    schedule.soon(1_000.0)
    now[0] += 300.0
    assert schedule.wait_turn() is True, "asking for later never delays a reading due"


def test_a_closed_schedule_lets_its_waiter_go() -> None:
    schedule = SyncSchedule(300.0)
    schedule.measured()
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(schedule.wait_turn()))
    waiter.start()
    schedule.close()
    waiter.join(timeout=5)
    assert waited == [False]
