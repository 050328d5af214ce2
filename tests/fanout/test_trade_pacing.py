"""The trade channel sends each trade of a wanted symbol once, a symbol's trades at most every
interval, and those arriving sooner together once it has passed, none lost; checked against
the trades that arrived."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.fanout.subscriptions import ALL_SYMBOLS
from candlecast.fanout.trade_pacing import TradePacing
from candlecast.market_data import Trade, TradeBatch

INTERVAL_S = 0.05
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def trade(symbol: str, trade_id: int) -> Trade:
    return Trade(symbol, trade_id, Decimal("43012.15"), Decimal("0.001"), 1_795_836_601_000 + trade_id, False)


def ids(batches: list[TradeBatch]) -> list[tuple[str, list[int]]]:
    return [(batch.symbol, [t.trade_id for t in batch.trades]) for batch in batches]


def test_the_first_trades_go_at_once_and_those_within_the_interval_wait_for_it() -> None:
    pacing = TradePacing(INTERVAL_S)
    wanted = {"BTCUSDT"}
    assert ids(pacing.arrived([trade("BTCUSDT", 1), trade("ETHUSDT", 1)], wanted, now=10.0)) == [("BTCUSDT", [1])]
    assert pacing.arrived([trade("BTCUSDT", 2)], wanted, now=10.01) == []
    assert pacing.arrived([trade("BTCUSDT", 3)], wanted, now=10.02) == []
    assert pacing.due(now=10.04) == []
    assert ids(pacing.due(now=10.06)) == [("BTCUSDT", [2, 3])]
    assert pacing.due(now=11.0) == []


def test_a_trade_repeated_by_an_overlapping_socket_goes_once() -> None:
    pacing = TradePacing(0.0)
    first = [trade("BTCUSDT", 1), trade("BTCUSDT", 2)]
    assert ids(pacing.arrived(first, {ALL_SYMBOLS}, now=1.0)) == [("BTCUSDT", [1, 2])]
    assert ids(pacing.arrived([trade("BTCUSDT", 2), trade("BTCUSDT", 3)], {ALL_SYMBOLS}, now=2.0)) == [("BTCUSDT", [3])]


def test_nobody_wanting_trades_costs_nothing_and_a_forgotten_symbol_starts_afresh() -> None:
    pacing = TradePacing(INTERVAL_S)
    assert pacing.arrived([trade("BTCUSDT", 1)], set(), now=1.0) == []
    assert ids(pacing.arrived([trade("BTCUSDT", 1)], {"BTCUSDT"}, now=1.0)) == [("BTCUSDT", [1])]
    assert pacing.arrived([trade("BTCUSDT", 2)], {"BTCUSDT"}, now=1.01) == []
    pacing.forget("BTCUSDT")
    assert pacing.due(now=9.0) == [], "its held trades went with it"
    assert ids(pacing.arrived([trade("BTCUSDT", 1)], {"BTCUSDT"}, now=1.02)) == [("BTCUSDT", [1])]


reads = st.lists(
    st.tuples(
        st.floats(0.0, 0.1),  # time since the previous read
        st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(1, 15)), max_size=8),
        st.booleans(),  # a tick after the read
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(reads=reads, wanted=st.sets(st.sampled_from((*SYMBOLS, ALL_SYMBOLS))))
def test_every_wanted_trade_goes_once_in_arrival_order_and_a_symbol_at_most_every_interval(
    reads: list[tuple[float, list[tuple[str, int]], bool]], wanted: set[str]
) -> None:
    pacing = TradePacing(INTERVAL_S)
    now = 0.0
    sent: list[tuple[float, TradeBatch]] = []
    for elapsed, arrived, tick in reads:
        now += elapsed
        sent += [(now, batch) for batch in pacing.arrived([trade(s, i) for s, i in arrived], wanted, now)]
        if tick:
            sent += [(now, batch) for batch in pacing.due(now)]
    now += 1.0  # long after: whatever is held goes
    sent += [(now, batch) for batch in pacing.due(now)]

    for symbol in SYMBOLS:
        first_arrivals: list[int] = []
        if wanted and (ALL_SYMBOLS in wanted or symbol in wanted):
            for _, arrived, _ in reads:
                for s, i in arrived:
                    if s == symbol and i not in first_arrivals:
                        first_arrivals.append(i)
        batches = [(at, batch) for at, batch in sent if batch.symbol == symbol]
        assert [t.trade_id for _, batch in batches for t in batch.trades] == first_arrivals
        times = [at for at, _ in batches]
        assert all(later - earlier >= INTERVAL_S for earlier, later in itertools.pairwise(times))
