"""RecentCandles counts a replay without building it, and the count agrees with the replay; a
replay reaching before memory names the stored ranges to read, and merged with them is exact."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.candles.series import empty_candle
from candlecast.fanout.recent_candles import NEWEST_MS, RecentCandles
from candlecast.market_data import Candle
from candlecast.messages.history import CandleRange

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.dictionaries(st.sampled_from(SYMBOLS), st.lists(st.integers(0, 200), max_size=40)),
    asked=st.lists(st.sampled_from(SYMBOLS), unique=True),
    since=st.one_of(st.none(), st.integers(0, 210_000)),
    most=st.integers(0, 60),
)
def test_the_count_is_the_replay_length_up_to_one_past_the_limit(
    seconds: dict[str, list[int]],
    asked: list[str],
    since: int | None,
    most: int,
) -> None:
    recent = RecentCandles(3600)
    for symbol, kept in seconds.items():
        for second in sorted(set(kept)):  # candles arrive in order of their second
            recent.remember(empty_candle(symbol, second, Decimal(1)))
    total = sum(len(recent.replay(symbol, since)) for symbol in asked)
    assert recent.count(asked, since, most) == min(total, most + 1)


def test_a_subscriber_is_replayed_the_candle_channel_of_its_symbols_or_every_symbol() -> None:
    recent = RecentCandles(3600)
    for symbol in SYMBOLS:
        for second in (10, 11):
            recent.remember(empty_candle(symbol, second, Decimal(1)))
    latest = recent.replay_for(frozenset({("SOLUSDT", "candle"), ("BTCUSDT", "trade")}), None, most=10)
    assert latest == (empty_candle("SOLUSDT", 11, Decimal(1)),), "the latest candle, of the candle channel only"
    every = recent.replay_for(frozenset({("*", "candle")}), 10_000, most=10)
    assert every is not None and [(c.symbol, c.open_time) for c in every] == [
        (symbol, second * 1000) for symbol in sorted(SYMBOLS) for second in (10, 11)
    ]
    assert recent.replay_for(frozenset({("*", "candle")}), 10_000, most=5) is None, "six is too many"


def revised(candle: Candle, revision: int) -> Candle:
    return msgspec.structs.replace(candle, revision=revision, close=candle.close + revision)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.integers(1, 40),
    memory=st.integers(1, 10),
    revisions=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=15),
    since_second=st.integers(0, 45),
)
def test_a_replay_merged_with_the_store_is_every_second_from_since_at_its_newest_revision(
    seconds: int, memory: int, revisions: list[tuple[int, int]], since_second: int
) -> None:
    """Candles go to the store and to memory as they are published, revisions of older seconds
    too; what memory no longer holds is read from the store over ``stored_ranges``."""
    recent = RecentCandles(memory)
    store: dict[tuple[str, int], Candle] = {}
    late = dict(revisions)  # after second ``at``, revise second ``which``
    for second in range(seconds):
        for symbol in SYMBOLS[:2]:
            for candle in [empty_candle(symbol, second, Decimal(1))] + (
                [revised(store[symbol, late[second] * 1000], store[symbol, late[second] * 1000].revision + 1)]
                if second in late and late[second] < second
                else []
            ):
                store[symbol, candle.open_time] = candle
                recent.remember(candle)
    since = since_second * 1000
    ranges = recent.stored_ranges(SYMBOLS[:2], since)
    read = [c for r in ranges for (s, t), c in sorted(store.items()) if s == r.symbol and r.start_ms <= t <= r.end_ms]
    replayed = recent.replay_for(frozenset({("*", "candle")}), since, 10_000, read)
    expected = [c for (_, t), c in sorted(store.items()) if t >= since]
    assert replayed == tuple(expected)


def test_what_left_memory_after_a_read_was_asked_for_is_read_next() -> None:
    recent = RecentCandles(3)
    for second in range(10, 20):
        recent.remember(empty_candle("BTCUSDT", second, Decimal(1)))
    (asked,) = recent.stored_ranges(["BTCUSDT"], 12_000)
    assert asked == CandleRange("BTCUSDT", 12_000, 16_999), "memory holds the newest 3 seconds whole"
    assert recent.gaps_after([asked]) == ()
    for second in (20, 21):
        recent.remember(empty_candle("BTCUSDT", second, Decimal(1)))
    assert recent.gaps_after([asked]) == (CandleRange("BTCUSDT", 17_000, 18_999),)


def test_a_symbol_with_nothing_in_memory_is_read_from_the_store_whole() -> None:
    recent = RecentCandles(3)
    recent.remember(empty_candle("BTCUSDT", 10, Decimal(1)))
    assert recent.stored_ranges(["BTCUSDT", "ETHUSDT"], 5_000) == (
        CandleRange("BTCUSDT", 5_000, 9_999),
        CandleRange("ETHUSDT", 5_000, NEWEST_MS),
    )
    assert recent.stored_ranges(["BTCUSDT"], 10_000) == (), "memory has it all"
