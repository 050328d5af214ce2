"""TradeIds against a plain set of ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from candlecast.candles.trade_ids import Hole, TradeIds


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 4)), max_size=80))
def test_ranges_agree_with_a_set(spans: list[tuple[int, int]]) -> None:
    ids = TradeIds()
    seen: set[int] = set()
    for first, count in spans:
        span = set(range(first, first + count))
        assert ids.add(first, first + count - 1, first) == (not span & seen)
        if not span & seen:
            seen |= span
    for first in range(0, 205, 7):
        for last in (first, first + 3):
            assert ids.covers(first, last) == (set(range(first, last + 1)) <= seen)
    if seen:
        missing = set(range(min(seen), max(seen) + 1)) - seen
        assert {i for hole in ids.holes() for i in range(hole.first_id, hole.last_id + 1)} == missing
        assert ids.newest is not None and ids.newest[0] == max(seen)


def test_holes_carry_the_times_around_them_and_fill_closes_them() -> None:
    ids = TradeIds()
    ids.add(1, 1, 1_000)
    ids.add(2, 2, 1_100)
    ids.add(6, 6, 2_500)
    ids.add(9, 9, 3_000)
    assert list(ids.holes()) == [Hole(3, 5, 1_100, 2_500), Hole(7, 8, 2_500, 3_000)]
    ids.fill(3, 5)
    assert list(ids.holes()) == [Hole(7, 8, 2_500, 3_000)]
    assert ids.add(4, 4, 0) is False
