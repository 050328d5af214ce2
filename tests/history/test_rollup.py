"""The reference roll-up on hand-built seconds: Binance's rule that a bar is made of its trades
(open, high and low from the seconds with trades, flat at the previous close without any, close
of the last second), exact sums, trade ids only from seconds that traded, the highest revision,
complete only if all are, bars closing 1 ms before the next opens, and Binance's recorded minutes."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import msgspec

from candlecast.history.intervals import HOUR_MS, INTERVALS
from candlecast.history.rollup import roll_up
from candlecast.market_data import Candle
from tests.history.seconds import NEAR_NEW_YEAR_MS, second
from tests.sim.conftest import DATA_DIR

T0 = NEAR_NEW_YEAR_MS  # 23:58:00 on the last day of 2026
MINUTE = INTERVALS["1m"]
RECORDED_MINUTES = DATA_DIR / "rest" / "nautilus_spot_klines_1m_btcusdt_2021-10-22.json"


def flat(open_time: int, price: str) -> Candle:
    """A second without trades, as the aggregator publishes it: at the previous close, empty."""
    return second(
        open_time,
        prices=(price, price, price, price),
        volume="0",
        quote_volume="0",
        trades=0,
        taker=("0", "0"),
        trade_ids=(-1, -1),
    )


def test_no_seconds_no_bars() -> None:
    assert roll_up([], MINUTE) == []


def test_seconds_fold_into_the_bar_of_their_minute() -> None:
    seconds = [
        second(T0, prices=("10", "12", "9", "11"), volume="0.1", quote_volume="1.1", trades=2, trade_ids=(5, 6)),
        second(
            T0 + 1000,
            prices=("11", "15", "10", "14"),
            volume="0.2",
            quote_volume="2.2",
            trades=3,
            taker=("0.2", "2.2"),
            trade_ids=(7, 9),
            revision=2,
        ),
        second(T0 + 59_000, prices=("14", "14", "8", "13"), volume="0.3", trade_ids=(10, 10), complete=False),
        second(T0 + 60_000, prices=("13", "13", "13", "13"), volume="4", revision=1, trade_ids=(11, 11)),
    ]
    first, second_bar = roll_up(seconds, MINUTE)
    assert (first.open_time, first.close_time) == (T0, T0 + 59_999)
    assert (first.open, first.high, first.low, first.close) == (10, 15, 8, 13)
    assert first.volume == Decimal("0.6"), "exactly, where floats give 0.6000000000000001"
    assert first.quote_volume == Decimal("103.3")
    assert (first.taker_buy_volume, first.taker_buy_quote_volume) == (Decimal("1.2"), Decimal("102.2"))
    assert (first.trades, first.first_trade_id, first.last_trade_id) == (6, 5, 10)
    assert (first.revision, first.complete) == (2, False)
    assert second_bar == msgspec.structs.replace(seconds[3], close_time=T0 + 119_999)


def test_trade_ids_come_only_from_seconds_that_traded() -> None:
    flat = {"trades": 0, "trade_ids": (-1, -1), "volume": "0", "quote_volume": "0", "taker": ("0", "0")}
    seconds = [
        second(T0, **flat),
        second(T0 + 1000, trade_ids=(20, 24), trades=5),
        second(T0 + 2000, **flat),
        second(T0 + 3000, trade_ids=(25, 25)),
        second(T0 + 4000, **flat),
    ]
    (bar,) = roll_up(seconds, MINUTE)
    assert (bar.first_trade_id, bar.last_trade_id, bar.trades) == (20, 25, 6)
    (quiet,) = roll_up([second(T0, **flat), second(T0 + 1000, **flat)], MINUTE)
    assert (quiet.first_trade_id, quiet.last_trade_id, quiet.trades, quiet.volume) == (-1, -1, 0, 0)


def test_1s_bars_are_the_seconds_themselves() -> None:
    seconds = [second(T0 + i * 1000, trade_ids=(i, i)) for i in (0, 1, 5)]
    assert roll_up(seconds, INTERVALS["1s"]) == seconds


def test_months_and_days_close_where_the_next_opens_in_local_time() -> None:
    seconds = [second(T0), second(T0 + 120_000), second(T0 + 3 * 86_400_000)]  # 23:58, 00:00 and 3 days on
    utc = roll_up(seconds, INTERVALS["1M"])
    assert [(bar.open_time, bar.close_time) for bar in utc] == [
        (1_796_083_200_000, 1_798_761_599_999),  # December 2026
        (1_798_761_600_000, 1_801_439_999_999),  # January 2027
    ]
    east = roll_up(seconds, INTERVALS["1M"], 8 * HOUR_MS)  # already January in UTC+8
    assert [(bar.open_time, bar.close_time) for bar in east] == [(1_798_732_800_000, 1_801_411_199_999)]
    assert east[0].open == seconds[0].open and east[0].volume == 3
    days = roll_up(seconds, INTERVALS["1d"], -HOUR_MS)  # 22:58 local on the 31st, then 23:00, then Jan 3
    assert [(bar.open_time, bar.volume) for bar in days] == [(1_798_678_800_000, 2), (1_798_938_000_000, 1)]
    assert [bar.close_time - bar.open_time for bar in days] == [86_399_999, 86_399_999]


def test_weeks_open_on_monday() -> None:
    sunday_night = 1_799_020_799_000  # 2027-01-03 23:59:59 UTC, a Sunday
    bars = roll_up([second(sunday_night), second(sunday_night + 1000)], INTERVALS["1w"])
    assert [bar.open_time for bar in bars] == [1_798_416_000_000, 1_799_020_800_000]  # Mondays 28 Dec and 4 Jan


def test_a_bar_whose_first_seconds_are_flat_opens_at_its_first_trade() -> None:
    seconds = [
        flat(T0, "10"),
        flat(T0 + 1000, "10"),
        second(T0 + 2000, prices=("11", "12", "11", "12"), trade_ids=(7, 8), trades=2),
        flat(T0 + 3000, "12"),
    ]
    (bar,) = roll_up(seconds, MINUTE)
    assert (bar.open, bar.high, bar.low, bar.close) == (11, 12, 11, 12), "not 10, the previous close"
    assert (bar.trades, bar.first_trade_id, bar.last_trade_id, bar.volume) == (2, 7, 8, 1)


def test_a_flat_second_below_the_low_or_above_the_high_of_the_trades_is_no_extreme() -> None:
    seconds = [
        flat(T0, "5"),  # the previous close, far below the minute's trades
        second(T0 + 1000, prices=("20", "21", "19", "20")),
        flat(T0 + 2000, "20"),
        second(T0 + 3000, prices=("20", "22", "20", "21")),
    ]
    (bar,) = roll_up(seconds, MINUTE)
    assert (bar.open, bar.high, bar.low, bar.close) == (20, 22, 19, 21)
    above = [flat(T0, "30"), *seconds[1:]]
    (bar,) = roll_up(above, MINUTE)
    assert (bar.open, bar.high, bar.low, bar.close) == (20, 22, 19, 21)


def test_a_bar_without_trades_is_flat_at_the_previous_close() -> None:
    seconds = [flat(T0 + i * 1000, "10.5") for i in range(60)]
    (bar,) = roll_up(seconds, MINUTE)
    assert (bar.open, bar.high, bar.low, bar.close) == (Decimal("10.5"),) * 4
    assert (bar.trades, bar.volume, bar.first_trade_id, bar.last_trade_id) == (0, 0, -1, -1)


def test_bars_fold_into_longer_bars_as_their_seconds_do() -> None:
    seconds = [
        flat(T0, "10"),
        second(T0 + 1000, prices=("11", "14", "11", "12")),
        flat(T0 + 60_000, "12"),  # a minute without trades, beyond the high of the trades
        second(T0 + 125_000, prices=("9", "13", "8", "13")),
        flat(T0 + 126_000, "13"),
    ]
    hour = INTERVALS["1h"]
    assert roll_up(roll_up(seconds, MINUTE), hour) == roll_up(seconds, hour)
    (bar,) = roll_up(seconds[2:3], hour)
    assert (bar.open, bar.high, bar.low, bar.close) == (12, 12, 12, 12)


def test_binances_recorded_minutes_open_at_their_first_trade_and_exclude_the_previous_close() -> None:
    """Binance's minutes open where the previous closed only when the first trade is at that
    price; one's high is even below the previous close. Each, rebuilt as a quiet first second at
    the previous close and then its trades, rolls up to the recorded prices."""
    recorded = [[Decimal(price) for price in row[1:5]] for row in json.loads(RECORDED_MINUTES.read_text())]
    assert sum(bar[0] != previous[3] for previous, bar in itertools.pairwise(recorded)) >= 5
    assert any(previous[3] > bar[1] for previous, bar in itertools.pairwise(recorded))
    for previous, (o, h, lo, c) in itertools.pairwise(recorded):
        seconds = [
            flat(T0, str(previous[3])),
            *(second(T0 + i * 1000, prices=(str(p),) * 4) for i, p in enumerate((o, h, lo, c), start=1)),
        ]
        (bar,) = roll_up(seconds, MINUTE)
        assert [bar.open, bar.high, bar.low, bar.close] == [o, h, lo, c]
