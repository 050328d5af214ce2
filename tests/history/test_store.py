"""The contract every candle store engine keeps: exact round trips (each candle's source too), the
newest revision wins in any write order, ranges and limits, retention in batches, the saved symbol
set, and klines equal to the reference roll-up and to a brute force over the candles written, for
every interval (a bar's source its least exact second's, its open, high and low those of its seconds
with trades, as Binance's)."""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from candlecast.history.intervals import HOUR_MS, INTERVALS, MAX_OFFSET_MS, MIN_OFFSET_MS, MINUTE_MS, Interval
from candlecast.history.rollup import roll_up
from candlecast.history.store import SOURCE_ORDER, CandleStore, KlineQuery
from candlecast.market_data import Candle
from tests.history.seconds import NEAR_NEW_YEAR_MS, second

T0 = NEAR_NEW_YEAR_MS
EVERYTHING = 10**9
FAR_FUTURE_MS = 2**53


def test_candles_come_back_exactly_as_written(store: CandleStore) -> None:
    written = [
        second(  # BTC-like: 2-decimal price, 5-decimal quantity, quote volume with 16 decimals
            T0,
            prices=("60685.22", "60729.84", "60670.90000000", "60719.27"),
            volume="0.00123456",
            quote_volume="74.9212563456789012",
            trades=617,
            taker=("0.00012345", "7.4917483490123456"),
            trade_ids=(1_123_456_789_012, 1_123_456_789_628),
        ),
        second(  # ETH-like
            T0 + 1000,
            prices=("4123.45678901", "4123.45678901", "4100.00000001", "4110.5"),
            volume="80.12345678",
            quote_volume="330378.1234567890123456",
            taker=("0", "0"),
            revision=3,
            complete=False,
            source="trades",
        ),
        second(  # PEPE-like: 2e11 units in a second at a price of 1e-5
            T0 + 2000,
            prices=("0.00001234", "0.00001299", "0.00000001", "0.00001"),
            volume="200000000000.12345678",
            quote_volume="2468000.0000015234567891",
            trades=5_000,
            taker=("99999999999.99999999", "1234000.0000000000000001"),
        ),
        second(  # a flat second: no trade, the previous close, zero volumes
            T0 + 3000,
            prices=("0.00001", "0.00001", "0.00001", "0.00001"),
            volume="0",
            quote_volume="0E-16",
            trades=0,
            taker=("0", "0"),
            trade_ids=(-1, -1),
            source="klines",
        ),
    ]
    assert store.write(written) == []
    assert store.candles("BTCUSDT", T0, T0 + 3000, 10) == written
    assert store.newest("BTCUSDT", 10) == written


def test_the_newest_revision_wins_whatever_order_writes_arrive_in(store: CandleStore) -> None:
    store.write([second(T0, revision=2, volume="2")])
    store.write([second(T0, revision=1, volume="1")])
    assert [c.revision for c in store.candles("BTCUSDT", T0, T0, 1)] == [2], "a lower revision after a higher"
    store.write([second(T0, revision=2, volume="7")])
    assert store.candles("BTCUSDT", T0, T0, 1)[0].volume == 2, "the same revision again replaces nothing"
    store.write(
        [second(T0 + 1000, revision=0), second(T0 + 1000, revision=4, volume="4"), second(T0 + 1000, revision=3)]
    )
    store.write([second(T0 + 2000, revision=5, volume="5"), second(T0 + 2000, revision=0)])
    store.write([second(T0, revision=3, volume="3")])
    assert [(c.revision, c.volume) for c in store.candles("BTCUSDT", T0, T0 + 2000, 10)] == [
        (3, 3),
        (4, 4),
        (5, 5),
    ]


def test_a_second_rebuilt_from_trades_replaces_its_klines_version_and_a_bar_says_the_least_exact(
    store: CandleStore,
) -> None:
    store.write([second(T0, source="live"), second(T0 + 1000, source="klines"), second(T0 + 2000, source="klines")])
    store.write([second(T0 + 1000, revision=1, source="trades")])
    stored = store.candles("BTCUSDT", T0, T0 + 2000, 10)
    assert [(c.source, c.revision) for c in stored] == [("live", 0), ("trades", 1), ("klines", 0)]
    query = KlineQuery("BTCUSDT", INTERVALS["1m"], T0, T0 + 1999, 10)
    assert [bar.source for bar in store.klines(query)] == ["trades"]


def test_candles_in_a_range_oldest_first_up_to_the_limit(store: CandleStore) -> None:
    store.write([second(T0 + i * 1000, trade_ids=(i, i)) for i in (0, 1, 2, 5, 6)])

    def times(start: int, end: int, limit: int) -> list[int]:
        return [(c.open_time - T0) // 1000 for c in store.candles("BTCUSDT", start, end, limit)]

    assert times(T0, T0 + 6000, 10) == [0, 1, 2, 5, 6], "both ends inclusive"
    assert times(T0 + 1, T0 + 5999, 10) == [1, 2, 5], "a candle belongs to the range its open time is in"
    assert times(T0, T0 + 6000, 2) == [0, 1], "the oldest first"
    assert times(T0 + 3000, T0 + 4000, 10) == []
    assert times(T0 + 2000, T0 + 2000, 10) == [2]
    assert times(T0 + 6000, T0, 10) == [], "start after end"
    assert times(T0, T0 + 6000, 0) == []
    assert store.candles("ETHUSDT", T0, T0 + 6000, 10) == [], "a symbol never written"


def test_newest_and_last_open_time(store: CandleStore) -> None:
    assert store.newest("BTCUSDT", 3) == []
    assert store.last_open_time("BTCUSDT") is None
    store.write([second(T0 + i * 1000) for i in (4, 0, 9, 2)])
    store.write([second(T0 + 1000, revision=1)])
    assert [(c.open_time - T0) // 1000 for c in store.newest("BTCUSDT", 3)] == [2, 4, 9], "oldest first"
    assert [(c.open_time - T0) // 1000 for c in store.newest("BTCUSDT", 10)] == [0, 1, 2, 4, 9]
    assert store.newest("BTCUSDT", 0) == []
    assert store.last_open_time("BTCUSDT") == T0 + 9000, "an older second written later changes nothing"


def test_symbols_are_kept_apart(store: CandleStore) -> None:
    btc = second(T0, symbol="BTCUSDT", prices=("60000", "60001", "59999", "60000.5"), volume="0.1")
    eth = second(T0, symbol="ETHUSDT", prices=("3000", "3001", "2999", "3000.5"), volume="2")
    late_eth = second(T0 + 60_000, symbol="ETHUSDT")
    assert store.write([btc, eth, late_eth]) == []
    assert store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 10) == [btc]
    assert store.candles("ETHUSDT", 0, FAR_FUTURE_MS, 10) == [eth, late_eth]
    assert store.newest("BTCUSDT", 5) == [btc]
    assert store.last_open_time("BTCUSDT") == T0
    minute = KlineQuery("BTCUSDT", INTERVALS["1m"], 0, FAR_FUTURE_MS, 10)
    assert store.klines(minute) == roll_up([btc], INTERVALS["1m"])


def test_the_saved_symbol_set_is_replaced_whole(store: CandleStore) -> None:
    assert store.symbols() == ()
    store.save_symbols(["ETHUSDT", "BTCUSDT", "PEPEUSDT"])
    assert store.symbols() == ("BTCUSDT", "ETHUSDT", "PEPEUSDT"), "sorted"
    store.save_symbols(iter(["SOLUSDT", "BTCUSDT"]))
    assert store.symbols() == ("BTCUSDT", "SOLUSDT")
    store.save_symbols([])
    assert store.symbols() == ()


def test_retention_deletes_the_oldest_in_batches(store: CandleStore) -> None:
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    store.write([second(T0 + i * 1000, symbol=symbol) for symbol in symbols for i in range(10)])
    cutoff = T0 + 6000  # seconds 0-5 of each symbol go, 18 candles, leaving the rest of their minute
    batches = []
    for _ in range(40):
        batches.append(store.delete_before(cutoff, 5))
        if batches[-1] == 0:
            break
    assert batches[-1] == 0, "until nothing is left before the cutoff"
    assert all(0 < count <= 5 for count in batches[:-1]), batches
    assert sum(batches) == 18
    for symbol in symbols:
        assert [c.open_time for c in store.candles(symbol, 0, FAR_FUTURE_MS, 20)] == [
            T0 + i * 1000 for i in range(6, 10)
        ]
    assert store.delete_before(T0, 100) == 0
    for name in ("1m", "1h", "1M"):
        query = KlineQuery("ETHUSDT", INTERVALS[name], 0, FAR_FUTURE_MS, 10)
        assert store.klines(query) == roll_up(store.candles("ETHUSDT", 0, FAR_FUTURE_MS, 20), INTERVALS[name])


def test_values_the_engine_cannot_hold_come_back_unkept_and_nothing_is_rounded(store: CandleStore) -> None:
    plain = second(T0)
    candidates = [
        plain,
        second(T0 + 1000, prices=("100.123456789", "101", "99", "100")),  # 9 decimals in a price
        second(T0 + 2000, volume="1.000000001"),
        second(T0 + 3000, quote_volume="1.00000000000000001"),  # 17 decimals in a quote volume
        second(T0 + 4000, taker=("0.5", "50.00000000000000001")),
        second(T0 + 5000, volume="9223372036854775808"),  # 2^63 whole units
        second(T0 + 6000, volume="9223372036854775807.99999999"),  # the most whole units
        second(T0 + 7000, prices=("92233720368.54775807", "92233720368.54775807", "99", "100")),
        second(T0 + 8000, prices=("92233720368.54775808", "92233720368.54775808", "99", "100")),
        second(T0 + 9000, volume="1.10000000000000000000"),  # trailing zeros: exactly 1.1
    ]
    unkept = store.write(candidates)
    kept = store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 20)
    assert {c.open_time for c in kept} | {c.open_time for c in unkept} == {c.open_time for c in candidates}
    assert not {c.open_time for c in kept} & {c.open_time for c in unkept}
    assert kept == [c for c in candidates if c not in unkept], "every kept value exactly as written"
    assert plain in kept
    assert candidates[-1] in kept


def test_a_reader_thread_sees_every_committed_write(store: CandleStore) -> None:
    opened, written = threading.Event(), threading.Event()
    seen: list[list[Candle]] = []

    def read() -> None:
        seen.append(store.newest("BTCUSDT", 5))  # opens this thread's connection before the write
        opened.set()
        written.wait(timeout=30)
        seen.append(store.newest("BTCUSDT", 5))

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    assert opened.wait(timeout=30)
    store.write([second(T0), second(T0 + 1000)])
    written.set()
    reader.join(timeout=30)
    assert seen == [[], [second(T0), second(T0 + 1000)]]


def test_readers_on_other_threads_see_whole_writes_while_one_thread_writes(store: CandleStore) -> None:
    seconds = 150
    finished = threading.Event()
    errors: list[BaseException] = []
    reads = threading.Semaphore(0)  # released after each read, so every write is followed by reads

    def read() -> None:
        try:
            while not finished.is_set():
                stored = store.candles("BTCUSDT", T0, T0 + seconds * 1000, seconds)
                assert [c.open_time for c in stored] == [T0 + i * 1000 for i in range(len(stored))]
                for interval in (INTERVALS["1m"], INTERVALS["1h"]):
                    for bar in store.klines(KlineQuery("BTCUSDT", interval, T0, T0 + seconds * 1000, 5)):
                        assert bar.volume == bar.trades == bar.last_trade_id - bar.first_trade_id + 1, bar
                reads.release()
        except BaseException as error:  # reported by the test's thread
            errors.append(error)
            reads.release()

    readers = [threading.Thread(target=read, name=f"reader-{n}") for n in range(2)]
    for reader in readers:
        reader.start()
    try:
        for i in range(seconds):  # one transaction per second, each second one trade of volume 1
            store.write([second(T0 + i * 1000, volume="1", trades=1, trade_ids=(i, i))])
            assert reads.acquire(timeout=30)
    finally:
        finished.set()
        for reader in readers:
            reader.join(timeout=30)
    assert errors == []
    (bar,) = store.klines(KlineQuery("BTCUSDT", INTERVALS["1h"], T0 + 120_000, T0 + seconds * 1000, 5))
    assert (bar.volume, bar.first_trade_id, bar.last_trade_id) == (seconds - 120, 120, seconds - 1)


def test_klines_of_ranges_starting_and_ending_inside_a_bar(store: CandleStore) -> None:
    seconds = [
        second(T0 + i * 7000, volume=str(i), trade_ids=(-1, i) if i % 3 else (i, -1), revision=i % 2)
        for i in range(200)  # every 7 s from 23:58:00 into the new year, for 23 minutes
    ]
    scrambled = [seconds[i * 37 % 200] for i in range(200)]  # every minute's seconds out of order
    for batch in range(0, 200, 40):
        assert store.write(scrambled[batch : batch + 40]) == []
    bounds = [T0 - 5000, T0, T0 + 3000, T0 + 61_000, T0 + 125_999, T0 + 600_000, T0 + 1_393_000]
    for start in bounds:
        for end in (b for b in bounds if b >= start):
            stored = store.candles("BTCUSDT", start, end, 1000)
            for interval in INTERVALS.values():
                for offset in (0, -HOUR_MS, 5 * HOUR_MS + 45 * MINUTE_MS, 37_000):
                    query = KlineQuery("BTCUSDT", interval, start, end, 7, offset)
                    assert store.klines(query) == roll_up(stored, interval, offset)[:7], (start, end, query)


def test_a_candle_off_the_whole_second_rolls_into_the_bar_it_falls_in(store: CandleStore) -> None:
    seconds = [second(T0 + 500, volume="1"), second(T0 + 1000, volume="2"), second(T0 + 1500, volume="3")]
    assert store.write(seconds) == []
    for name in ("1s", "1m"):
        query = KlineQuery("BTCUSDT", INTERVALS[name], T0, T0 + 2000, 10)
        assert store.klines(query) == roll_up(seconds, INTERVALS[name]), name
    assert [bar.volume for bar in store.klines(KlineQuery("BTCUSDT", INTERVALS["1s"], T0, T0 + 2000, 10))] == [1, 5]


# Klines: random seconds, dense in the first minutes and sparse across two months (a year end
# included), written as several revisions in random order.
BASE_MS = T0 - 20 * 86_400_000
SPAN_S = 70 * 86_400
DENSE_S = 150
units = st.one_of(st.integers(0, 10**4), st.integers(0, 2**63 - 1))
volume = st.builds(lambda whole, fraction: Decimal(f"{whole}.{fraction:08d}"), units, st.integers(0, 10**8 - 1))
quote = st.builds(lambda whole, fraction: Decimal(f"{whole}.{fraction:016d}"), units, st.integers(0, 10**16 - 1))
price = st.integers(1, 10**13).map(lambda n: Decimal(n).scaleb(-8))
trade_id = st.one_of(st.just(-1), st.integers(0, 2**62))


@st.composite
def revisions_of(draw: st.DrawFn, symbol: str, open_time: int) -> list[Candle]:
    count = draw(st.integers(1, 3))
    revisions = draw(st.lists(st.integers(0, 9), min_size=count, max_size=count, unique=True))
    out = []
    for revision in revisions:
        trades = draw(st.one_of(st.just(0), st.integers(0, 10**6)))
        # A second without trades is flat: one price, at which its bar may neither open nor peak.
        prices = sorted(draw(st.lists(price, min_size=1, max_size=4 if trades else 1)))
        out.append(
            Candle(
                symbol,
                open_time,
                open_time + 999,
                draw(st.sampled_from(prices)),
                prices[-1],
                prices[0],
                draw(st.sampled_from(prices)),
                draw(volume),
                draw(quote),
                trades,
                draw(volume),
                draw(quote),
                draw(trade_id),
                draw(trade_id),
                revision,
                draw(st.booleans()),
                draw(st.sampled_from(SOURCE_ORDER)),
            )
        )
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[Candle]], dict[int, Candle]]:
    """Batches to write, and the newest revision of every second written."""
    dense = st.integers(0, DENSE_S)
    seconds = draw(st.lists(st.one_of(dense, dense, st.integers(0, SPAN_S)), min_size=1, max_size=40, unique=True))
    candles = [c for s in seconds for c in draw(revisions_of("KLINEUSDT", BASE_MS + s * 1000))]
    shuffled = draw(st.permutations(candles))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=3)))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    truth: dict[int, Candle] = {}
    for candle in candles:
        if candle.open_time not in truth or candle.revision > truth[candle.open_time].revision:
            truth[candle.open_time] = candle
    return batches, truth


def bar_bounds(interval: Interval, time_ms: int, offset_ms: int) -> tuple[int, int]:
    """Open and close time of the bar holding ``time_ms``, worked out on the calendar in local
    time, independently of ``Interval``."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    local = epoch + datetime.timedelta(milliseconds=time_ms + offset_ms)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval.name == "1M":
        start = midnight.replace(day=1)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
    elif interval.name == "1w":
        start = midnight - datetime.timedelta(days=local.weekday())
        end = start + datetime.timedelta(days=7)
    else:
        local_ms = (local - epoch) // datetime.timedelta(milliseconds=1)
        start = epoch + datetime.timedelta(milliseconds=local_ms // interval.length_ms * interval.length_ms)
        end = start + datetime.timedelta(milliseconds=interval.length_ms)
    ms = datetime.timedelta(milliseconds=1)
    return (start - epoch) // ms - offset_ms, (end - epoch) // ms - offset_ms - 1


def brute_force(truth: dict[int, Candle], query: KlineQuery) -> list[Candle]:
    buckets: dict[tuple[int, int], list[Candle]] = defaultdict(list)
    for open_time in sorted(truth):
        if query.start_ms <= open_time <= query.end_ms:
            buckets[bar_bounds(query.interval, open_time, query.offset_ms)].append(truth[open_time])
    bars = []
    for (start, end), seconds in sorted(buckets.items())[: query.limit]:
        # Binance's rule: open, high and low from the seconds with trades; flat at the first
        # second's open if there were none.
        traded = [c for c in seconds if c.trades > 0]
        if traded:
            opened, high, low = traded[0].open, max(c.high for c in traded), min(c.low for c in traded)
        else:
            opened = high = low = seconds[0].open
        traded_first = [c.first_trade_id for c in seconds if c.first_trade_id != -1]
        traded_last = [c.last_trade_id for c in seconds if c.last_trade_id != -1]
        bars.append(
            Candle(
                query.symbol,
                start,
                end,
                opened,
                high,
                low,
                seconds[-1].close,
                sum((c.volume for c in seconds), Decimal(0)),
                sum((c.quote_volume for c in seconds), Decimal(0)),
                sum(c.trades for c in seconds),
                sum((c.taker_buy_volume for c in seconds), Decimal(0)),
                sum((c.taker_buy_quote_volume for c in seconds), Decimal(0)),
                traded_first[0] if traded_first else -1,
                traded_last[-1] if traded_last else -1,
                max(c.revision for c in seconds),
                all(c.complete for c in seconds),
                SOURCE_ORDER[min(SOURCE_ORDER.index(c.source) for c in seconds)],
            )
        )
    return bars


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories(),
    window=st.tuples(
        st.one_of(st.integers(-30, DENSE_S), st.integers(-86_400, SPAN_S)),
        st.one_of(st.integers(0, DENSE_S), st.integers(0, SPAN_S + 86_400)),
    ),
    shape=st.tuples(st.integers(1, 40), st.one_of(st.just(0), st.integers(MIN_OFFSET_MS, MAX_OFFSET_MS))),
)
def test_klines_of_every_interval_equal_the_roll_up_and_a_brute_force(
    store: CandleStore,
    history: tuple[list[list[Candle]], dict[int, Candle]],
    window: tuple[int, int],
    shape: tuple[int, int],
) -> None:
    batches, truth = history
    limit, offset_ms = shape
    store.delete_before(FAR_FUTURE_MS, EVERYTHING)  # the store outlives each example
    for batch in batches:
        assert store.write(batch) == []
    start_ms = BASE_MS + window[0] * 1000
    end_ms = start_ms + window[1] * 1000 + 999
    stored = store.candles("KLINEUSDT", start_ms, end_ms, EVERYTHING)
    assert stored == [truth[t] for t in sorted(truth) if start_ms <= t <= end_ms]
    for interval in INTERVALS.values():
        query = KlineQuery("KLINEUSDT", interval, start_ms, end_ms, limit, offset_ms)
        klines = store.klines(query)
        assert klines == roll_up(stored, interval, offset_ms)[:limit], interval.name
        assert klines == brute_force(truth, query), interval.name
