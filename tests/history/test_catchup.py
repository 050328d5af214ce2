"""The catch-up's arithmetic and conversions: which seconds a restart fills, from klines and from
trades; Binance's kline rows as stored candles, exact; and the pages of both, against the real
simulator's REST API or a loopback server answering what a test needs."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import msgspec
import pytest

from candlecast.candles.series import empty_candle
from candlecast.history import klines
from candlecast.history.catchup import (
    KLINES_REVISION,
    TRADES_REVISION,
    CatchUpRange,
    kline_candles,
    kline_pages,
    plan,
    trade_pages,
)
from candlecast.sim import Simulator
from candlecast.upstream.rest_client import UpstreamUnavailable
from candlecast.upstream.trade_fetch import Fetcher, WeightBudget
from tests.reference import reference_candles
from tests.rest_stub import Canned, RestStub

SYMBOL = "BTCUSDT"
T0 = 1_795_836_600_000  # a whole second


def test_the_seconds_between_the_last_stored_candle_and_the_first_live_one_are_filled() -> None:
    span = plan(SYMBOL, after_ms=T0, until_ms=T0 + 61_000, window_s=86_400, trades_window_s=3_600)
    assert span == CatchUpRange(SYMBOL, T0, T0 + 61_000, fill_from_ms=T0 + 1000, trades_from_ms=T0 + 1000)
    assert (span.missing_s, span.filled_s, span.rebuilt_s) == (0, 60, 60)


def test_only_the_newest_seconds_within_the_backfill_window_are_rebuilt_from_trades() -> None:
    span = plan(SYMBOL, after_ms=T0, until_ms=T0 + 61_000, window_s=86_400, trades_window_s=10)
    assert (span.fill_from_ms, span.trades_from_ms) == (T0 + 1000, T0 + 51_000)
    assert (span.missing_s, span.filled_s, span.rebuilt_s) == (0, 60, 10)


def test_seconds_older_than_the_window_are_left_missing() -> None:
    span = plan(SYMBOL, after_ms=T0, until_ms=T0 + 61_000, window_s=20, trades_window_s=3_600)
    assert (span.fill_from_ms, span.trades_from_ms) == (T0 + 41_000, T0 + 41_000)
    assert (span.missing_s, span.filled_s, span.rebuilt_s) == (40, 20, 20)
    nothing = plan(SYMBOL, after_ms=T0, until_ms=T0 + 61_000, window_s=0, trades_window_s=3_600)
    assert (nothing.missing_s, nothing.filled_s, nothing.rebuilt_s) == (60, 0, 0)


def test_live_candles_that_follow_the_stored_ones_at_once_leave_nothing_to_fill() -> None:
    span = plan(SYMBOL, after_ms=T0, until_ms=T0 + 1000, window_s=86_400, trades_window_s=3_600)
    assert (span.missing_s, span.filled_s, span.rebuilt_s) == (0, 0, 0)


def kline_row(open_time: int, *values: str, trades: int) -> list[object]:
    """Binance's 12 fields: open time, o h l c v, close time, quote volume, trades, taker buys, "0"."""
    o, h, lo, c, v, q, tv, tq = values
    return [open_time, o, h, lo, c, v, open_time + 999, q, trades, tv, tq, "0"]


TRADED = kline_row(
    T0,
    *("43012.15000000", "43013.02000000", "43011.90000000", "43012.88000000", "0.41230000"),
    *("17733.95287130", "0.20010000", "8606.78131000"),
    trades=9,
)
FLAT = kline_row(T0 + 1000, *(["43012.88000000"] * 4), *(["0.00000000"] * 4), trades=0)


def test_binance_klines_become_exact_candles_marked_as_from_klines_without_trade_ids() -> None:
    bars = klines.parse_rows(SYMBOL, json.dumps([TRADED, FLAT]).encode())
    traded, flat = kline_candles(bars, T0, T0 + 2000)
    assert (traded.open, traded.close, traded.volume) == (Decimal("43012.15"), Decimal("43012.88"), Decimal("0.4123"))
    assert traded.quote_volume == Decimal("17733.9528713") and traded.taker_buy_quote_volume == Decimal("8606.78131")
    assert (traded.trades, traded.first_trade_id, traded.last_trade_id) == (9, -1, -1)
    assert (traded.source, traded.revision, traded.complete) == ("klines", KLINES_REVISION, True)
    # A second without trades is Binance's flat kline: the candle a series publishes for it.
    assert flat == msgspec.structs.replace(empty_candle(SYMBOL, T0 // 1000 + 1, Decimal("43012.88")), source="klines")


def test_klines_past_the_range_are_not_kept() -> None:
    bars = klines.parse_rows(SYMBOL, json.dumps([TRADED, FLAT]).encode())
    assert [c.open_time for c in kline_candles(bars, T0, T0 + 1000)] == [T0]


@pytest.mark.parametrize(
    "rows",
    [
        [FLAT, TRADED],  # out of order
        [kline_row(T0 + 1, *(["1.00000000"] * 4), *(["0.00000000"] * 4), trades=0)],  # not a whole second
        [kline_row(T0, *(["0.00000000"] * 4), *(["0.00000000"] * 4), trades=0)],  # no price
        [kline_row(T0, "1", "2", "3", "1", *(["0.00000000"] * 4), trades=0)],  # low above high
        [kline_row(T0, *(["1.00000000"] * 4), "-1", "0", "0", "0", trades=1)],  # negative volume
    ],
)
def test_an_impossible_kline_is_refused(rows: list[list[object]]) -> None:
    with pytest.raises(ValueError):
        kline_candles(klines.parse_rows(SYMBOL, json.dumps(rows).encode()), T0, T0 + 60_000)


def flat_rows(first: int, count: int) -> bytes:
    rows = [kline_row(first + i * 1000, *(["43012.88"] * 4), *(["0"] * 4), trades=0) for i in range(count)]
    return json.dumps(rows).encode()


def test_klines_are_asked_for_a_thousand_seconds_at_a_time_until_the_range_ends(simulator: Simulator) -> None:
    stub = RestStub(simulator.rest_url).start()
    try:
        stub.answer(klines.KLINES, Canned(200, flat_rows(T0, klines.MAX_LIMIT)))
        stub.answer(klines.KLINES, Canned(200, flat_rows(T0 + 1_000_000, 500)))
        fetcher = Fetcher(stub.url, WeightBudget(6000), threading.Event().wait)
        pages = list(kline_pages(fetcher, SYMBOL, T0, T0 + 1_500_000))
    finally:
        stub.stop()
    assert [(len(candles), next_ms) for candles, next_ms in pages] == [(1000, T0 + 1_000_000), (500, T0 + 1_500_000)]
    assert len(stub.requests(klines.KLINES)) == 2


def test_a_malformed_klines_answer_is_the_exchange_unavailable(simulator: Simulator) -> None:
    stub = RestStub(simulator.rest_url).start()
    try:
        stub.answer(klines.KLINES, Canned(200, b'[[1, "x"]]'))
        fetcher = Fetcher(stub.url, WeightBudget(6000), threading.Event().wait)
        with pytest.raises(UpstreamUnavailable):
            list(kline_pages(fetcher, SYMBOL, T0, T0 + 60_000))
    finally:
        stub.stop()


def test_seconds_rebuilt_from_trades_equal_the_exchange_s_own_record(simulator: Simulator) -> None:
    stopped = threading.Event()
    trades = simulator.trades(SYMBOL)
    while not trades or trades[-1].time - trades[0].time < 6000:
        stopped.wait(0.2)
        trades = simulator.trades(SYMBOL)
    start_s, until_s = trades[0].time // 1000 + 1, trades[-1].time // 1000 - 1
    before = [t for t in trades if t.time // 1000 < start_s][-1].price
    fetcher = Fetcher(simulator.rest_url, WeightBudget(6000), stopped.wait)
    pages = trade_pages(fetcher, SYMBOL, start_ms=start_s * 1000, until_ms=until_s * 1000, previous_close=before)
    rebuilt = [candle for page in pages for candle in page]
    assert {(c.source, c.revision) for c in rebuilt} == {("trades", TRADES_REVISION)}
    expected = reference_candles(trades, start_s, until_s - 1)
    assert [msgspec.structs.replace(c, source="live", revision=0) for c in rebuilt] == expected
