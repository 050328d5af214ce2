"""CandleSeries against the brute-force reference over random trade lists, including trades
that arrive late, twice, or only later through a backfill."""

from __future__ import annotations

import decimal
import itertools
import threading
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.candles.series import CandleBuilder, CandleSeries
from candlecast.market_data import Candle, GapEvent, Trade
from candlecast.messages.backfill import RequestBackfill, RequestSeed, TradesRecovered
from candlecast.messages.history import CandleRange, CandlesRead, ReadCandles
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
        trades.append(
            Trade(
                symbol="BTCUSDT",
                trade_id=1000 + index,
                price=draw(prices),
                quantity=draw(quantities),
                time=time_ms,
                buyer_is_maker=draw(st.booleans()),
            )
        )
    return trades


def run_series(trades: list[Trade], cuts: list[int], ticks: bool, fill_empty: bool = True) -> list[Candle]:
    """Feed trades in batches split at ``cuts``; optionally tick the clock between batches."""
    series = CandleSeries("BTCUSDT", fill_empty)
    closed: list[Candle] = []
    bounds = sorted({c % (len(trades) + 1) for c in cuts} | {0, len(trades)})
    for start, end in itertools.pairwise(bounds):
        series.add_batch(trades[start:end], closed)
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
    series.add_batch((trade(1, 10_500, "7.25"),), closed)
    series.elapse(10, closed)
    assert closed == []
    series.elapse(11, closed)
    assert [(c.open_time, c.open, c.trades, c.first_trade_id) for c in closed] == [(11_000, Decimal("7.25"), 0, -1)]


def test_a_later_trade_closes_the_open_second_before_the_clock() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add_batch((trade(1, 10_999),), closed)
    series.add_batch((trade(2, 11_000, "2"),), closed)
    series.add_batch((trade(3, 12_000, "3"),), closed)
    assert [(c.open_time, c.close, c.trades) for c in closed] == [(11_000, Decimal("2"), 1)]
    series.elapse(11, closed)
    assert len(closed) == 1


def test_a_trade_after_its_second_closed_revises_it_and_the_empty_seconds_after() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add_batch((trade(1, 10_100, "1"),), closed)
    series.add_batch((trade(2, 11_100, "2"),), closed)
    series.elapse(13, closed)
    assert [(c.open_time, c.close, c.revision) for c in closed] == [(11_000, 2, 0), (12_000, 2, 0), (13_000, 2, 0)]
    series.add_batch((trade(3, 11_900, "3"),), closed)
    assert [(c.open_time, c.close, c.trades, c.revision) for c in closed[3:]] == [
        (11_000, 3, 2, 1),
        (12_000, 3, 0, 1),
        (13_000, 3, 0, 1),
    ]
    assert series.late_applied == 1


def test_late_trades_in_one_batch_revise_their_candle_once() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), closed)
    series.elapse(12, closed)
    published = len(closed)
    series.add_batch(tuple(trade(trade_id, 11_500, str(trade_id)) for trade_id in range(3, 53)), closed)
    assert [(c.open_time, c.trades, c.close, c.revision) for c in closed[published:]] == [
        (11_000, 51, 52, 1),
        (12_000, 0, 52, 1),
    ]
    assert series.late_applied == 50


@settings(max_examples=300, deadline=None)
@given(trade_lists(), st.lists(st.integers(0, 100), max_size=8))
def test_batches_behind_the_clock_end_as_the_reference(trades: list[Trade], cuts: list[int]) -> None:
    """The clock runs ahead of every batch, so most trades arrive after their second closed;
    those of the first second (which only supplies the last price) too."""
    first_whole = trades[0].time // 1000 + 1
    series = CandleSeries("BTCUSDT")
    out: list[Any] = []
    bounds = sorted({c % (len(trades) + 1) for c in cuts} | {0, len(trades)})
    for start, end in itertools.pairwise(bounds):
        series.elapse(trades[end - 1].time // 1000, out)
        series.add_batch(trades[start:end], out)
    series.elapse(trades[-1].time // 1000, out)
    final = latest([c for c in out if isinstance(c, Candle)])
    expected = reference_candles(trades, first_whole, trades[-1].time // 1000)
    assert [as_first_publication(c) for c in final.values() if c.open_time >= first_whole * 1000] == expected


@settings(max_examples=300, deadline=None)
@given(
    trade_lists(),
    st.lists(st.integers(0, 100), max_size=8),
    st.lists(st.integers(0, 100), max_size=6),
    st.lists(st.integers(0, 100), max_size=6),
)
def test_swapped_and_repeated_trades_end_as_the_reference(
    trades: list[Trade], cuts: list[int], swaps: list[int], repeats: list[int]
) -> None:
    """Two sockets overlapping deliver trades twice and out of order; runs of in-order trades
    are folded in one pass and broken by the others, which must not change the result."""
    first_whole = trades[0].time // 1000 + 1
    warmup = sum(1 for t in trades if t.time // 1000 < first_whole)
    stream = list(trades)
    for swap in swaps:
        at = warmup + swap % max(1, len(stream) - warmup - 1)
        if at + 1 < len(stream):
            stream[at], stream[at + 1] = stream[at + 1], stream[at]
    for repeat in repeats:
        at = warmup + repeat % max(1, len(stream) - warmup)
        if at < len(stream):
            stream.insert(at + 1, stream[at])
    series = CandleSeries("BTCUSDT")
    out: list[Any] = []
    series.add_batch(stream[:warmup], out)
    bounds = sorted({warmup + c % (len(stream) - warmup + 1) for c in cuts} | {warmup, len(stream)})
    for start, end in itertools.pairwise(bounds):
        series.add_batch(stream[start:end], out)
    series.elapse(trades[-1].time // 1000, out)
    final = latest([c for c in out if isinstance(c, Candle)])
    expected = reference_candles(trades, first_whole, trades[-1].time // 1000)
    assert [as_first_publication(c) for c in final.values() if c.open_time >= first_whole * 1000] == expected
    assert series.duplicates == len(stream) - len(trades)


def test_a_late_trade_of_the_first_second_reprices_the_flat_candles_after_it() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[Any] = []
    series.add_batch((trade(2, 10_500, "7"),), out)
    series.elapse(12, out)
    series.add_batch((trade(1, 10_100, "5"),), out)  # older than the price given: changes nothing
    series.add_batch((trade(3, 10_900, "8"),), out)
    series.elapse(13, out)
    assert [(c.open_time, c.close, c.revision) for c in out] == [
        (11_000, 7, 0),
        (12_000, 7, 0),
        (11_000, 8, 1),
        (12_000, 8, 1),
        (13_000, 8, 0),
    ]


def test_a_duplicate_trade_changes_nothing() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    for trade_id, time_ms in ((1, 10_100), (2, 11_100), (3, 11_200)):
        series.add_batch((trade(trade_id, time_ms),), closed)
    series.add_batch((trade(2, 11_100),), closed)
    series.elapse(11, closed)
    assert [(c.trades, c.revision) for c in closed] == [(2, 0)]
    assert series.duplicates == 1


def as_first_publication(candle: Candle) -> Candle:
    return msgspec.structs.replace(candle, revision=0, complete=True)


def latest(published: list[Candle]) -> dict[int, Candle]:
    """The newest revision of each second, checking revisions count up by one."""
    newest: dict[int, Candle] = {}
    for candle in published:
        previous = newest.get(candle.open_time)
        assert candle.revision == (0 if previous is None else previous.revision + 1)
        newest[candle.open_time] = candle
    return newest


@settings(max_examples=300, deadline=None)
@given(trade_lists(), st.integers(0, 60), st.integers(1, 20), st.lists(st.integers(0, 100), max_size=8))
def test_a_gap_is_flagged_then_repaired_exactly(trades: list[Trade], start: int, length: int, cuts: list[int]) -> None:
    whole = [i for i, t in enumerate(trades) if t.time // 1000 > trades[0].time // 1000]
    if len(whole) < 2:
        return
    first = whole[start % (len(whole) - 1)]
    missing = trades[first : min(first + length, whole[-1])]
    streamed = [t for t in trades if t not in missing]
    series = CandleSeries("BTCUSDT")
    out: list[object] = []
    bounds = sorted({c % (len(streamed) + 1) for c in cuts} | {0, len(streamed)})
    for begin, end in itertools.pairwise(bounds):
        series.add_batch(streamed[begin:end], out)
        series.settle(out)
        series.elapse(streamed[end - 1].time // 1000 - 1, out)
    series.elapse(trades[-1].time // 1000, out)
    last_second = trades[-1].time // 1000
    expected = {c.open_time: c for c in reference_candles(trades, trades[0].time // 1000 + 1, last_second)}
    candles = [item for item in out if isinstance(item, Candle)]
    for open_time, candle in latest(candles).items():
        assert candle.complete is False or as_first_publication(candle) == expected[open_time]
    requests = [item for item in out if isinstance(item, RequestBackfill)]
    assert [(r.first_id, r.last_id) for r in requests] == [(missing[0].trade_id, missing[-1].trade_id)]
    assert [e.kind for e in out if isinstance(e, GapEvent)] == ["gap"]

    after: list[object] = []
    page = TradesRecovered("BTCUSDT", missing[0].trade_id, tuple(missing), missing[-1].trade_id, finished=True)
    series.recover(page, after)
    assert [e.kind for e in after if isinstance(e, GapEvent)] == ["recovered"]
    final = latest(candles + [item for item in after if isinstance(item, Candle)])
    assert all(c.complete for c in final.values())
    assert [as_first_publication(c) for c in final.values()] == list(expected.values())


def test_an_interrupted_stream_flags_candles_until_the_backfill_catches_up() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[object] = []
    series.add_batch((trade(1, 10_100, "1"),), out)
    series.add_batch((trade(2, 11_100, "2"),), out)
    series.interrupt(out)
    series.elapse(13, out)
    assert [(c.open_time, c.complete) for c in out if isinstance(c, Candle)] == [
        (11_000, False),
        (12_000, False),
        (13_000, False),
    ]
    series.resume(out)
    assert out[-1] == RequestBackfill("ETHUSDT", first_id=3, last_id=None, after_time=11_100)
    out.clear()
    page = TradesRecovered("ETHUSDT", 3, (trade(3, 12_500, "5"),), through_id=3, finished=True)
    series.recover(page, out)
    assert [(c.open_time, c.close, c.trades, c.revision, c.complete) for c in out if isinstance(c, Candle)] == [
        (12_000, 5, 1, 1, False),
        (13_000, 5, 0, 1, False),
        (11_000, 2, 1, 1, True),
        (12_000, 5, 1, 2, True),
        (13_000, 5, 0, 2, True),
    ]
    assert [(e.kind, e.first_trade_id, e.last_trade_id) for e in out if isinstance(e, GapEvent)] == [
        ("recovered", 3, 3)
    ]


def test_exact_decimal_sums() -> None:
    series = CandleSeries("ETHUSDT")
    closed: list[Candle] = []
    series.add_batch((trade(1, 9_000),), closed)
    for trade_id in range(2, 12):
        series.add_batch((trade(trade_id, 10_000 + trade_id, "0.1", "0.1"),), closed)
    series.elapse(10, closed)
    (candle,) = closed
    assert candle.volume == Decimal("1.0")
    assert candle.quote_volume == Decimal("0.10")
    assert str(candle.quote_volume) == "0.10"


def test_a_silent_stream_flags_the_candles_published_since_it_went_quiet() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[object] = []
    series.add_batch((trade(1, 10_100, "1"),), out)
    series.add_batch((trade(2, 11_100, "2"),), out)
    series.elapse(15, out)
    out.clear()
    series.interrupt(out, silent_since_ms=14_200)
    assert [(c.open_time, c.revision, c.complete) for c in out if isinstance(c, Candle)] == [
        (13_000, 1, False),
        (14_000, 1, False),
        (15_000, 1, False),
    ]


def test_a_rejected_trade_flags_its_candles_until_the_backfill_repairs_them_exactly() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[object] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), out)
    series.elapse(12, out)
    out.clear()
    series.reject(3, "trade rejected: price is not finite", out)
    gap = next(e for e in out if isinstance(e, GapEvent))
    assert (gap.kind, gap.first_trade_id, gap.last_trade_id, gap.from_time, gap.to_time) == ("gap", 3, 3, 11_000, None)
    assert "not finite" in gap.detail
    assert RequestBackfill("ETHUSDT", first_id=3, last_id=3, after_time=11_100) in out
    series.elapse(13, out)
    series.add_batch((trade(4, 14_300, "4"),), out)
    series.elapse(14, out)
    assert [(c.open_time, c.revision, c.complete) for c in out if isinstance(c, Candle)] == [
        (11_000, 1, False),
        (12_000, 1, False),
        (13_000, 0, False),
        (14_000, 0, False),
    ]
    out.clear()
    series.recover(TradesRecovered("ETHUSDT", 3, (trade(3, 12_500, "5"),), through_id=3, finished=True), out)
    assert [(e.kind, e.first_trade_id) for e in out if isinstance(e, GapEvent)] == [("recovered", 3)]
    final = {c.open_time: c for c in out if isinstance(c, Candle)}
    assert [(c.open_time, c.close, c.trades, c.complete) for c in final.values()] == [
        (12_000, 5, 1, True),
        (13_000, 5, 0, True),
        (11_000, 2, 1, True),
        (14_000, 4, 1, True),
    ]
    assert final[12_000].revision == 3 and final[11_000].revision == 2 and final[14_000].revision == 1
    expected = reference_candles(
        [trade(i, t, p) for i, t, p in ((1, 10_100, "1"), (2, 11_100, "2"), (3, 12_500, "5"), (4, 14_300, "4"))], 11, 14
    )
    assert [as_first_publication(final[c.open_time]) for c in expected] == expected


@settings(max_examples=300, deadline=None)
@given(trade_lists(), st.integers(1, 60), st.integers(0, 3), st.lists(st.integers(0, 100), max_size=6))
def test_a_rejected_trade_is_flagged_then_repaired_exactly(
    trades: list[Trade], pick: int, told_after: int, cuts: list[int]
) -> None:
    """Wherever the rejected trade is (the last one too, which no later id would reveal) and
    however many later trades reach the series before the rejection does."""
    if len(trades) < 2:
        return
    rejected = trades[pick % (len(trades) - 1) + 1]
    streamed = [t for t in trades if t is not rejected]
    told_at = min(
        streamed.index(next((t for t in streamed if t.trade_id > rejected.trade_id), streamed[-1])) + told_after,
        len(streamed),
    )
    if rejected is trades[-1]:
        told_at = len(streamed)
    series = CandleSeries("BTCUSDT")
    out: list[object] = []
    bounds = sorted({c % (len(streamed) + 1) for c in cuts} | {0, told_at, len(streamed)})
    for begin, end in itertools.pairwise(bounds):
        series.add_batch(streamed[begin:end], out)
        series.settle(out)
        if end == told_at:
            series.reject(rejected.trade_id, "trade rejected", out)
        series.elapse(streamed[end - 1].time // 1000 - 1, out)
    if told_at == len(streamed) == 0:
        series.reject(rejected.trade_id, "trade rejected", out)
    last_second = trades[-1].time // 1000
    series.elapse(last_second, out)
    expected = {c.open_time: c for c in reference_candles(trades, trades[0].time // 1000 + 1, last_second)}
    candles = [item for item in out if isinstance(item, Candle)]
    for open_time, candle in latest(candles).items():
        assert candle.complete is False or as_first_publication(candle) == expected[open_time]
    requests = [item for item in out if isinstance(item, RequestBackfill)]
    assert [(r.first_id, r.last_id) for r in requests] == [(rejected.trade_id, rejected.trade_id)]
    assert [e.kind for e in out if isinstance(e, GapEvent)] == ["gap"]

    after: list[object] = []
    series.recover(TradesRecovered("BTCUSDT", rejected.trade_id, (rejected,), rejected.trade_id, True), after)
    assert [e.kind for e in after if isinstance(e, GapEvent)] == ["recovered"]
    final = latest(candles + [item for item in after if isinstance(item, Candle)])
    assert all(c.complete for c in final.values())
    assert [as_first_publication(c) for c in final.values()] == list(expected.values())


def test_a_trade_rejected_before_anything_is_published_changes_nothing() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[object] = []
    series.reject(5, "trade rejected", out)
    series.add_batch((trade(4, 10_100),), out)
    series.reject(4, "trade rejected", out)  # arrived after all, through the other socket
    assert out == []


def test_a_trade_far_ahead_is_refused_and_flagged_and_the_clock_fills_no_more_than_the_window() -> None:
    series = CandleSeries("ETHUSDT", window_s=60)
    out: list[object] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), out)
    series.elapse(12, out)
    out.clear()
    years_ahead = trade(3, 11_100 + 3 * 365 * 86_400_000, "3")
    series.add_batch((years_ahead,), out)
    assert not [c for c in out if isinstance(c, Candle) and c.open_time > 12_000]
    assert [(e.kind, e.first_trade_id) for e in out if isinstance(e, GapEvent)] == [("gap", 3)]
    assert series.too_far_ahead == 1
    out.clear()
    series.recover(TradesRecovered("ETHUSDT", 3, (years_ahead,), through_id=3, finished=True), out)
    assert [(e.kind, e.first_trade_id) for e in out if isinstance(e, GapEvent)] == [("unrecoverable", 3)]
    out.clear()
    series.elapse(12 + 86_400, out)
    published = [c for c in out if isinstance(c, Candle)]
    assert len(published) == 60 and published[-1].open_time == (12 + 86_400) * 1000


def test_large_quote_volumes_are_exact_on_any_thread() -> None:
    """40-digit prices and quantities (the most check_trade admits) multiply and add up without
    rounding, on a thread started after the system's modules were imported too."""
    price = Decimal("1234567890123456789012345678.901234567891")
    quantity = Decimal("9876543210987654321.098765432109876543211")
    trades = [
        Trade(
            symbol="BTCUSDT", trade_id=1, price=price, quantity=quantity, time=BASE_SECOND * 1000, buyer_is_maker=False
        ),
        Trade(
            symbol="BTCUSDT",
            trade_id=2,
            price=Decimal("1E-30"),
            quantity=Decimal("1E-30"),
            time=BASE_SECOND * 1000 + 1,
            buyer_is_maker=False,
        ),
    ]
    wide = decimal.Context(prec=1000)  # so the expectation itself cannot round
    exact = wide.add(wide.multiply(price, quantity), Decimal("1E-60"))
    results: list[Decimal] = []

    def aggregate() -> None:
        builder = CandleBuilder(trades[0])
        builder.add(trades[1])
        results.append(builder.build().quote_volume)

    worker = threading.Thread(target=aggregate)
    worker.start()
    worker.join()
    assert results == [exact] and len(exact.as_tuple().digits) > 100


class StoredCandles:
    """What the store holds of a series' output: the newest revision of each published candle.
    Reads are answered one step late, as the history reader answers while trades go on."""

    def __init__(self) -> None:
        self.candles: dict[int, Candle] = {}
        self.reads: list[ReadCandles] = []

    def keep(self, out: list[Any]) -> None:
        for item in out:
            if isinstance(item, Candle):
                kept = self.candles.get(item.open_time)
                assert kept is None or item.revision == kept.revision + 1
                self.candles[item.open_time] = item
            elif isinstance(item, ReadCandles):
                self.reads.append(item)

    def answer(self, series: CandleSeries, out: list[Any]) -> None:
        reads, self.reads = self.reads, []
        for read in reads:
            (asked,) = read.ranges
            found = [c for t, c in sorted(self.candles.items()) if asked.start_ms <= t <= asked.end_ms]
            assert len(found) <= read.limit
            series.load(CandlesRead(read.request, read.ranges, tuple(found)), out)

    def step(self, series: CandleSeries, out: list[Any], done: int) -> int:
        """Keep what ``out`` gained since ``done``, answer the reads asked before; the new end."""
        self.keep(out[done:])
        done = len(out)
        self.answer(series, out)
        return done

    def settle(self, series: CandleSeries, out: list[Any], done: int) -> None:
        """Answer reads until none is asked any more."""
        for _ in range(100):
            self.keep(out[done:])
            done = len(out)
            if not self.reads:
                return
            self.answer(series, out)
        raise AssertionError("reads never ended")


@settings(max_examples=300, deadline=None)
@given(trade_lists(), st.lists(st.integers(0, 100), max_size=8), st.integers(0, 3))
def test_with_a_short_memory_late_trades_revise_stored_candles_exactly(
    trades: list[Trade], cuts: list[int], memory_s: int
) -> None:
    """The clock runs ahead of every batch, as in the test above, but the series keeps only
    ``memory_s`` seconds: older candles are read back from what it published, and end the same."""
    first_whole = trades[0].time // 1000 + 1
    series = CandleSeries("BTCUSDT", memory_s=memory_s)
    store = StoredCandles()
    out: list[Any] = []
    done = 0
    bounds = sorted({c % (len(trades) + 1) for c in cuts} | {0, len(trades)})
    for start, end in itertools.pairwise(bounds):
        series.elapse(trades[end - 1].time // 1000, out)
        series.add_batch(trades[start:end], out)
        done = store.step(series, out, done)
    series.elapse(trades[-1].time // 1000, out)
    store.settle(series, out, done)
    final = latest([c for c in out if isinstance(c, Candle)])
    expected = reference_candles(trades, first_whole, trades[-1].time // 1000)
    assert [as_first_publication(c) for c in final.values() if c.open_time >= first_whole * 1000] == expected
    assert series.beyond_window == 0


@settings(max_examples=200, deadline=None)
@given(trade_lists(), st.integers(0, 60), st.integers(1, 20), st.lists(st.integers(0, 100), max_size=8))
def test_with_a_short_memory_a_gap_is_flagged_then_repaired_exactly(
    trades: list[Trade], start: int, length: int, cuts: list[int]
) -> None:
    """Candles flagged by a gap leave memory; when the backfill repairs it their trades and
    flags are corrected in the stored candles read back."""
    whole = [i for i, t in enumerate(trades) if t.time // 1000 > trades[0].time // 1000]
    if len(whole) < 2:
        return
    first = whole[start % (len(whole) - 1)]
    missing = trades[first : min(first + length, whole[-1])]
    streamed = [t for t in trades if t not in missing]
    series = CandleSeries("BTCUSDT", memory_s=1)
    store = StoredCandles()
    out: list[Any] = []
    done = 0
    bounds = sorted({c % (len(streamed) + 1) for c in cuts} | {0, len(streamed)})
    for begin, end in itertools.pairwise(bounds):
        series.add_batch(streamed[begin:end], out)
        series.settle(out)
        series.elapse(streamed[end - 1].time // 1000 - 1, out)
        done = store.step(series, out, done)
    series.elapse(trades[-1].time // 1000, out)
    page = TradesRecovered("BTCUSDT", missing[0].trade_id, tuple(missing), missing[-1].trade_id, finished=True)
    series.recover(page, out)
    store.settle(series, out, done)
    expected = {c.open_time: c for c in reference_candles(trades, trades[0].time // 1000 + 1, trades[-1].time // 1000)}
    final = latest([c for c in out if isinstance(c, Candle)])
    assert all(c.complete for c in final.values())
    assert [as_first_publication(c) for c in final.values()] == list(expected.values())
    assert [e.kind for e in out if isinstance(e, GapEvent)] == ["gap", "recovered"]


def test_a_late_trade_older_than_memory_waits_for_the_stored_candles_then_revises_them() -> None:
    series = CandleSeries("ETHUSDT", memory_s=2)
    out: list[Any] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), out)
    series.elapse(16, out)
    stored = {c.open_time: c for c in out}
    assert [(c.open_time, c.close) for c in stored.values()] == [(t * 1000, 2) for t in range(11, 17)]
    late: list[Any] = []
    series.add_batch((trade(3, 12_500, "3"),), late)
    assert late == [ReadCandles(request=0, ranges=(CandleRange("ETHUSDT", 12_000, 13_999),), limit=2)]
    series.add_batch((trade(4, 17_100, "4"),), late)  # the live stream goes on meanwhile
    (read,) = late[:1]
    answered: list[Any] = []
    series.load(CandlesRead(0, read.ranges, (stored[12_000], stored[13_000])), answered)
    assert [(c.open_time, c.close, c.trades, c.revision) for c in answered] == [
        (12_000, 3, 1, 1),
        (13_000, 3, 0, 1),
        (14_000, 3, 0, 1),
        (15_000, 3, 0, 1),
        (16_000, 3, 0, 1),
    ]
    assert series.late_applied == 1


def test_a_stored_candle_revised_again_soon_after_is_still_in_memory() -> None:
    series = CandleSeries("ETHUSDT", memory_s=2)
    out: list[Any] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), out)
    series.elapse(16, out)
    stored = {c.open_time: c for c in out}
    series.add_batch((trade(3, 12_500, "3"),), out)
    (read,) = out[-1:]
    series.load(CandlesRead(0, read.ranges, (stored[12_000], stored[13_000])), out)
    series.elapse(17, out)
    again: list[Any] = []
    series.add_batch((trade(4, 12_600, "4"),), again)
    assert [(c.open_time, c.close, c.trades, c.revision) for c in again][:2] == [
        (12_000, 4, 2, 2),
        (13_000, 4, 0, 2),
    ]


def test_a_second_the_store_does_not_have_takes_no_late_trade() -> None:
    series = CandleSeries("ETHUSDT", memory_s=2)
    out: list[Any] = []
    series.add_batch((trade(1, 10_100, "1"), trade(2, 11_100, "2")), out)
    series.elapse(16, out)
    late: list[Any] = []
    series.add_batch((trade(3, 12_500, "3"),), late)
    (read,) = late
    series.load(CandlesRead(0, read.ranges, (), error="disk gone"), late)
    assert late == [read]
    assert series.beyond_window == 1


# --- the first second after a subscription took effect -------------------------------------


def started(confirmed_ms: int, window_s: int = 3600) -> tuple[CandleSeries, list[Any]]:
    series = CandleSeries("ETHUSDT", window_s=window_s)
    out: list[Any] = []
    assert series.start(confirmed_ms, out) == confirmed_ms // 1000 + 1
    assert out == [RequestSeed("ETHUSDT")]
    out.clear()
    return series, out


def candles(out: list[Any]) -> list[tuple[int, Decimal, int, int, int]]:
    """(second, close, trades, first trade id, revision) of each candle published."""
    return [
        (c.open_time // 1000, c.close, c.trades, c.first_trade_id, c.revision) for c in out if isinstance(c, Candle)
    ]


def test_from_the_confirmation_every_second_is_published_flat_at_the_seed_until_the_first_trade() -> None:
    series, out = started(43_300)
    assert series.seed(trade(10, 41_000, "7"), out) == "used"
    series.elapse(43, out)
    series.elapse(44, out)
    series.add_batch((trade(11, 45_700, "8"), trade(12, 45_800, "9")), out)
    series.elapse(45, out)
    assert candles(out) == [(44, 7, 0, -1, 0), (45, 9, 2, 11, 0)]


def test_without_a_seed_the_first_trading_second_is_published_but_not_the_seconds_before_it() -> None:
    series, out = started(43_300)
    assert series.seed(None, out) == "failed"
    series.elapse(44, out)
    series.add_batch((trade(11, 45_700, "8"),), out)
    series.elapse(46, out)
    assert candles(out) == [(45, 8, 1, 11, 0), (46, 8, 0, -1, 0)]
    assert series.unpriced_seconds == 1


def test_the_second_straddling_the_confirmation_is_not_published_and_prices_the_next() -> None:
    series, out = started(43_300)
    series.add_batch((trade(11, 43_500, "6"),), out)
    series.elapse(43, out)
    series.elapse(44, out)
    assert candles(out) == [(44, 6, 0, -1, 0)]


def test_the_newest_trade_before_the_first_second_prices_it_whichever_arrives_first() -> None:
    """The seed is fetched after the confirmation, so a trade streamed before the first second
    can be older (the seed wins) or newer (the stream's wins) than it, and arrive either side."""
    for seed_id, stream_id, seed_first in ((12, 11, True), (12, 11, False), (11, 12, True), (11, 12, False)):
        series, out = started(43_300)
        seed, streamed = trade(seed_id, 43_900, "7"), trade(stream_id, 43_600, "6")
        newest = seed if seed_id > stream_id else streamed
        if seed_first:
            series.seed(seed, out)
            series.elapse(44, out)
            series.add_batch((streamed,), out)
        else:
            series.add_batch((streamed,), out)
            series.elapse(44, out)
            assert series.seed(seed, out) == ("used" if seed is newest else "older than the stream's")
        series.elapse(45, out)
        final = latest([c for c in out if isinstance(c, Candle)])
        assert [(c.open_time, c.close) for c in final.values()] == [(44_000, newest.price), (45_000, newest.price)]


def test_a_seed_inside_the_first_second_is_not_a_price_before_it() -> None:
    series, out = started(43_300)
    assert series.seed(trade(11, 44_100, "7"), out) == "after the first second"
    series.add_batch((trade(11, 44_100, "7"), trade(12, 45_200, "8")), out)
    series.elapse(45, out)
    assert candles(out) == [(44, 7, 1, 11, 0), (45, 8, 1, 12, 0)]


def test_a_seed_arriving_after_quiet_seconds_closed_publishes_them_in_order() -> None:
    series, out = started(43_300)
    series.elapse(44, out)
    series.elapse(45, out)
    assert out == []
    series.seed(trade(10, 41_000, "7"), out)
    series.elapse(46, out)
    assert candles(out) == [(44, 7, 0, -1, 0), (45, 7, 0, -1, 0), (46, 7, 0, -1, 0)]


def test_a_seed_arriving_after_the_first_trading_second_was_published_is_too_late() -> None:
    series, out = started(43_300)
    series.add_batch((trade(11, 45_700, "8"),), out)
    series.elapse(45, out)
    assert series.seed(trade(10, 41_000, "7"), out) == "too late"
    series.elapse(46, out)
    assert candles(out) == [(45, 8, 1, 11, 0), (46, 8, 0, -1, 0)]
    assert series.unpriced_seconds == 1


def test_trades_missed_between_the_seed_and_the_stream_are_a_gap() -> None:
    series, out = started(43_300)
    series.seed(trade(10, 41_000, "7"), out)
    series.add_batch((trade(13, 45_700, "8"),), out)
    series.elapse(45, out)
    assert [(r.first_id, r.last_id) for r in out if isinstance(r, RequestBackfill)] == [(11, 12)]
    assert [c.complete for c in out if isinstance(c, Candle)][-2:] == [False, False]


def test_a_stream_interrupted_before_its_first_trade_is_backfilled_from_the_seed() -> None:
    series, out = started(43_300)
    series.seed(trade(10, 41_000, "7"), out)
    series.elapse(44, out)
    series.interrupt(out)
    series.resume(out)
    assert out[-1] == RequestBackfill("ETHUSDT", first_id=11, last_id=None, after_time=41_000)


def test_a_trade_refused_before_any_arrived_after_the_confirmation_is_a_gap_from_the_first_second() -> None:
    series, out = started(43_300)
    series.reject(11, "trade time too far ahead", out)
    assert [(r.first_id, r.last_id, r.after_time) for r in out if isinstance(r, RequestBackfill)] == [(11, 11, 43_000)]
    series.add_batch((trade(12, 45_700, "8"),), out)
    series.elapse(45, out)
    assert [(c.open_time // 1000, c.complete) for c in out if isinstance(c, Candle)] == [(45, False)]
    out.clear()
    series.recover(TradesRecovered("ETHUSDT", 11, (trade(11, 45_100, "7"),), through_id=11, finished=True), out)
    *_, final = (c for c in out if isinstance(c, Candle))
    assert (final.open_time // 1000, final.close, final.trades, final.first_trade_id, final.complete) == (
        45,
        8,
        2,
        11,
        True,
    )


def test_a_confirmation_after_a_refused_trade_keeps_to_what_the_trades_show() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[Any] = []
    series.reject(11, "trade time too far ahead", out)
    assert series.start(43_300, out) is None
    series.add_batch((trade(12, 45_700, "8"),), out)
    series.elapse(46, out)
    assert candles(out) == [(46, 8, 0, -1, 0)]


def test_a_confirmation_after_trades_keeps_the_second_after_the_first_one_seen_first() -> None:
    series = CandleSeries("ETHUSDT")
    out: list[Any] = []
    series.add_batch((trade(11, 43_500, "6"),), out)
    assert series.start(42_000, out) == 44
    assert series.start(41_000, out) == 44
    assert out == []
    assert series.seed(trade(12, 43_600, "7"), out) == "not asked for"


@settings(max_examples=300, deadline=None)
@given(
    trades=trade_lists(),
    confirmed_after=st.integers(0, 60_000),
    lead_ms=st.integers(0, 500),
    fetch_after=st.integers(0, 3000),
    seed_at=st.integers(0, 100),
    cuts=st.lists(st.integers(0, 100), max_size=8),
)
def test_from_the_confirmation_the_published_seconds_are_the_reference(
    *, trades: list[Trade], confirmed_after: int, lead_ms: int, fetch_after: int, seed_at: int, cuts: list[int]
) -> None:
    """The server streams the trades from a little before the confirmation; the seed is the
    newest trade when it was fetched, after the confirmation, and arrives between any two
    batches. Every second from the first after the confirmation is published and ends as the
    reference, but for the flat seconds before the first trade when nothing priced them."""
    confirmed_ms = min(trades[0].time + confirmed_after, trades[-1].time)
    first_second, last_second = confirmed_ms // 1000 + 1, trades[-1].time // 1000
    streamed = [t for t in trades if t.time >= confirmed_ms - lead_ms]
    fetched = [t for t in trades if t.time <= confirmed_ms + fetch_after]
    seed = fetched[-1] if fetched else None
    series = CandleSeries("BTCUSDT")
    out: list[Any] = []
    series.start(confirmed_ms, out)
    bounds = sorted({c % (len(streamed) + 1) for c in cuts} | {0, len(streamed)})
    seed_bound = bounds[seed_at % len(bounds)]
    outcome = None
    for begin, end in itertools.pairwise(bounds):
        if begin == seed_bound:
            outcome = series.seed(seed, out)
        series.elapse(streamed[begin].time // 1000 - 1, out)
        series.add_batch(streamed[begin:end], out)
        series.settle(out)
    if outcome is None:
        outcome = series.seed(seed, out)
    series.elapse(last_second, out)
    final = latest([c for c in out if isinstance(c, Candle)])
    expected = {c.open_time: c for c in reference_candles(trades, first_second, last_second)}
    priced = outcome == "used" or any(t.time // 1000 < first_second for t in streamed)
    if not priced:
        first_trading = min((t.time // 1000 for t in streamed if t.time // 1000 >= first_second), default=None)
        unpriced = range(first_second, last_second + 1 if first_trading is None else first_trading)
        expected = {open_time: c for open_time, c in expected.items() if open_time // 1000 not in unpriced}
    assert all(c.complete for c in final.values())
    assert {t: as_first_publication(c) for t, c in final.items()} == expected
