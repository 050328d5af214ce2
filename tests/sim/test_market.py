"""The random market, without threads: determinism, quantization and the patterns of seconds."""

from __future__ import annotations

import itertools
from collections import Counter

from candlecast.sim.listing import LISTING, TRADING
from candlecast.sim.market import RandomWalk, random_trades

START_MS = 1_700_000_000_000
BTCUSDT = next(spec for spec in LISTING if spec.symbol == "BTCUSDT")


def seconds_of(walk: RandomWalk, count: int) -> list[list]:
    return [walk.second(START_MS + 1000 * index) for index in range(count)]


def test_same_seed_same_trades_and_other_seed_other_trades() -> None:
    first = list(itertools.islice(random_trades(BTCUSDT, 7, 8.0, START_MS), 500))
    again = list(itertools.islice(random_trades(BTCUSDT, 7, 8.0, START_MS), 500))
    other = list(itertools.islice(random_trades(BTCUSDT, 8, 8.0, START_MS), 500))
    assert first == again
    assert first != other


def test_ids_consecutive_times_in_order_and_inside_their_second() -> None:
    seconds = seconds_of(RandomWalk(BTCUSDT, 1, 8.0), 60)
    trades = [t for second in seconds for t in second]
    assert [t.trade_id for t in trades] == list(range(trades[0].trade_id, trades[0].trade_id + len(trades)))
    assert trades[0].trade_id > 10**8
    assert all(a.time <= b.time for a, b in itertools.pairwise(trades))
    for index, second in enumerate(seconds):
        assert all(START_MS + 1000 * index <= t.time < START_MS + 1000 * (index + 1) for t in second)


def test_prices_and_quantities_are_quantized_8_decimal_strings() -> None:
    for spec in (s for s in LISTING if s.status == TRADING):
        for trade in itertools.islice(random_trades(spec, 1, 8.0, START_MS), 200):
            assert trade.price > 0 and trade.quantity > 0
            assert trade.price % spec.tick_size == 0, (spec.symbol, trade.price)
            assert trade.quantity % spec.step_size == 0, (spec.symbol, trade.quantity)
            assert len(str(trade.price).split(".")[1]) == 8
            assert len(str(trade.quantity).split(".")[1]) == 8


def test_quiet_seconds_boundary_trades_and_bursts_within_ten_seconds() -> None:
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        spec = next(s for s in LISTING if s.symbol == symbol)
        seconds = seconds_of(RandomWalk(spec, 1, 8.0), 10)
        counts = [len(second) for second in seconds]
        millis = [t.time % 1000 for second in seconds for t in second]
        same_ms = max(Counter(t.time for second in seconds for t in second).values())
        assert 0 in counts, (symbol, counts)
        assert 0 in millis and 999 in millis, symbol
        assert max(counts) >= 3 * 8, (symbol, counts)
        assert same_ms >= 5, symbol


def test_rate_is_roughly_the_configured_mean() -> None:
    seconds = seconds_of(RandomWalk(BTCUSDT, 3, 8.0), 600)
    mean = sum(len(s) for s in seconds) / len(seconds)
    assert 5.0 < mean < 14.0


def test_sides_both_occur_and_a_crowd_is_one_taker() -> None:
    trades = list(itertools.islice(random_trades(BTCUSDT, 1, 8.0, START_MS), 2000))
    assert {t.buyer_is_maker for t in trades} == {True, False}
    for _, crowd in itertools.groupby(trades, key=lambda t: t.time):
        assert len({t.buyer_is_maker for t in crowd}) == 1
