"""What the clock believes of the exchange's time: it runs on the monotonic clock, and a
reading is used only when believable (near the local clock and the last reading used, or,
where trades tell the time, near what they show)."""

from __future__ import annotations

import pytest

from candlecast.clock.exchange_time import MAX_ROUND_TRIP_MS, NS_PER_MS, TRADES_SLACK_MS, ExchangeTime, refusal

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
    assert (
        refusal(skew_ms=skew_ms, round_trip_ms=round_trip_ms, last_skew_ms=last_skew_ms, max_skew_ms=BOUND) == refused
    )


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
    assert (
        refusal(skew_ms=skew_ms, round_trip_ms=5, last_skew_ms=None, max_skew_ms=BOUND, trades_lead_ms=trades_lead_ms)
        == refused
    )
