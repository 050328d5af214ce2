"""When a second closes: once exchange time has passed its end plus grace, and every second
up to the newest closed one has closed with it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from candlecast.clock.closing import closed_through, closes_at_ms

NOW_MS = 1_765_000_000_000


def test_a_second_closes_at_its_end_plus_grace() -> None:
    assert closes_at_ms(99, grace_ms=250) == 100_250
    assert closed_through(100_249, grace_ms=250) == 98
    assert closed_through(100_250, grace_ms=250) == 99


@given(exchange_ms=st.integers(NOW_MS - 10**9, NOW_MS + 10**9), grace_ms=st.integers(0, 5_000))
def test_the_newest_closed_second_is_the_last_whose_closing_time_has_passed(exchange_ms: int, grace_ms: int) -> None:
    newest = closed_through(exchange_ms, grace_ms)
    assert closes_at_ms(newest, grace_ms) <= exchange_ms < closes_at_ms(newest + 1, grace_ms)
