"""RecentCandles counts a replay without building it, and the count agrees with the replay."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.candles.series import empty_candle
from candlecast.fanout.recent_candles import RecentCandles

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
