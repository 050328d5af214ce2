"""CandleSeries against the brute-force reference over random trade lists."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.candles import CandleSeries
from candlecast.messages import Candle, Trade
from tests.reference import reference_candles

BASE_SECOND = 1_700_000_000

prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999.99999999"), places=8)
quantities = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("9999.99999999"), places=8)


@st.composite
def trade_lists(draw: st.DrawFn) -> list[Trade]:
    """Consecutive ids, non-decreasing times with gaps, bursts and exact second boundaries."""
    count = draw(st.integers(min_value=1, max_value=60))
    time_ms = BASE_SECOND * 1000 + draw(st.integers(0, 999))
    trades = []
    for index in range(count):
        step = draw(st.one_of(st.just(0), st.integers(0, 400), st.integers(0, 4000), st.just(1000 - time_ms % 1000)))
        time_ms += step
        trades.append(Trade(
            symbol="BTCUSDT", trade_id=1000 + index, price=draw(prices), quantity=draw(quantities),
            time=time_ms, buyer_is_maker=draw(st.booleans()),
        ))
    return trades


def run_series(trades: list[Trade], cuts: list[int], ticks: bool, fill_empty: bool = True) -> list[Candle]:
    """Feed trades in batches split at ``cuts``; optionally tick the clock between batches."""
    series = CandleSeries("BTCUSDT", fill_empty)
    closed: list[Candle] = []
    bounds = sorted({c % (len(trades) + 1) for c in cuts} | {0, len(trades)})
    for start, end in zip(bounds, bounds[1:]):
        for trade in trades[start:end]:
            series.add(trade, closed)
        if ticks and end < len(trades):
            series.elapse(trades[end].time // 1000 - 1, closed)
    series.elapse(trades[-1].time // 1000, closed)
    return closed


@settings(max_examples=300, deadline=None)
@given(trade_lists(), st.lists(st.integers(0, 100), max_size=8), st.booleans(), st.booleans())
def test_series_matches_reference(trades: list[Trade], cuts: list[int], ticks: bool, fill_empty: bool) -> None:
    published = run_series(trades, cuts, ticks, fill_empty)
    first_whole = trades[0].time // 1000 + 1
    assert published == reference_candles(trades, first_whole, trades[-1].time // 1000, fill_empty)


def trade(trade_id: int, time_ms: int, price: str = "1.5", quantity: str = "2") -> Trade:
    return Trade("ETHUSDT", trade_id, Decimal(price), Decimal(quantity), time_ms, False)


def test_first_second_only_supplies_the_last_price() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add(trade(1, 10_500, "7.25"), closed)
    series.elapse(10, closed)
    assert closed == []
    series.elapse(11, closed)
    assert [(c.open_time, c.open, c.trades, c.first_trade_id) for c in closed] == [(11_000, Decimal("7.25"), 0, -1)]


def test_a_later_trade_closes_the_open_second_before_the_clock() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add(trade(1, 10_999), closed)
    series.add(trade(2, 11_000, "2"), closed)
    series.add(trade(3, 12_000, "3"), closed)
    assert [(c.open_time, c.close, c.trades) for c in closed] == [(11_000, Decimal("2"), 1)]
    series.elapse(11, closed)
    assert len(closed) == 1


def test_trade_after_its_second_closed_is_counted_late_not_applied() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add(trade(1, 10_100), closed)
    series.add(trade(2, 11_100), closed)
    series.elapse(11, closed)
    series.add(trade(3, 11_900), closed)
    assert series.late_trades == 1
    assert closed[-1].last_trade_id == 2


def test_exact_decimal_sums() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add(trade(1, 9_000), closed)
    for trade_id in range(2, 12):
        series.add(trade(trade_id, 10_000 + trade_id, "0.1", "0.1"), closed)
    series.elapse(10, closed)
    (candle,) = closed
    assert candle.volume == Decimal("1.0")
    assert candle.quote_volume == Decimal("0.10")
    assert str(candle.quote_volume) == "0.10"
