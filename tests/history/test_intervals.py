"""Binance's intervals: fixed lengths aligned on the epoch, weeks on Monday, months on the first,
every boundary moved by a time zone's offset; and the timeZone values Binance accepts."""

from __future__ import annotations

import datetime
import json

import hypothesis.strategies as st
import pytest
from hypothesis import given

from candlecast.history.intervals import HOUR_MS, INTERVALS, MAX_OFFSET_MS, MIN_OFFSET_MS, MINUTE_MS, parse_time_zone
from tests.conftest import shared_data


def ms(text: str) -> int:
    """Epoch ms of an ISO-8601 time with its offset, e.g. ``2026-12-06T17:05:00+00:00``."""
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def bar(name: str, time: str, offset_ms: int = 0) -> tuple[int, int]:
    interval = INTERVALS[name]
    start = interval.start_of(ms(time), offset_ms)
    return start, interval.next_start(start, offset_ms)


def test_every_binance_interval_is_known() -> None:
    assert " ".join(INTERVALS) == "1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M"


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("1s", "2026-12-06T17:05:31+00:00", "2026-12-06T17:05:32+00:00"),
        ("1m", "2026-12-06T17:05:00+00:00", "2026-12-06T17:06:00+00:00"),
        ("3m", "2026-12-06T17:03:00+00:00", "2026-12-06T17:06:00+00:00"),
        ("15m", "2026-12-06T17:00:00+00:00", "2026-12-06T17:15:00+00:00"),
        ("4h", "2026-12-06T16:00:00+00:00", "2026-12-06T20:00:00+00:00"),
        ("12h", "2026-12-06T12:00:00+00:00", "2026-12-07T00:00:00+00:00"),
        ("1d", "2026-12-06T00:00:00+00:00", "2026-12-07T00:00:00+00:00"),
        (
            "3d",
            "2026-12-06T00:00:00+00:00",
            "2026-12-09T00:00:00+00:00",
        ),  # 20,793 days since the epoch: a multiple of 3
        ("1w", "2026-11-30T00:00:00+00:00", "2026-12-07T00:00:00+00:00"),  # Monday to Monday
        ("1M", "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
    ],
)
def test_the_bar_holding_a_sunday_afternoon_in_utc(name: str, start: str, end: str) -> None:
    assert bar(name, "2026-12-06T17:05:31.250+00:00") == (ms(start), ms(end))


def test_a_time_zone_moves_days_weeks_and_months_to_local_midnight() -> None:
    assert bar("1d", "2026-12-06T17:05:00+00:00", 8 * HOUR_MS) == (
        ms("2026-12-07T00:00:00+08:00"),
        ms("2026-12-08T00:00:00+08:00"),
    )
    assert bar("1w", "2026-12-06T17:05:00+00:00", 8 * HOUR_MS) == (
        ms("2026-12-07T00:00:00+08:00"),  # already Monday in UTC+8
        ms("2026-12-14T00:00:00+08:00"),
    )
    assert bar("1h", "2026-12-06T17:05:00+00:00", 5 * HOUR_MS + 45 * MINUTE_MS) == (
        ms("2026-12-06T22:00:00+05:45"),
        ms("2026-12-06T23:00:00+05:45"),
    )


def test_months_with_an_offset_across_the_year_end() -> None:
    east = 8 * HOUR_MS
    assert bar("1M", "2026-12-31T20:00:00+00:00", east) == (
        ms("2027-01-01T00:00:00+08:00"),
        ms("2027-02-01T00:00:00+08:00"),
    )
    west = -5 * HOUR_MS
    assert bar("1M", "2027-01-01T03:00:00+00:00", west) == (
        ms("2026-12-01T00:00:00-05:00"),
        ms("2027-01-01T00:00:00-05:00"),
    )
    assert bar("1M", "2028-02-29T23:59:59.999+00:00") == (
        ms("2028-02-01T00:00:00+00:00"),
        ms("2028-03-01T00:00:00+00:00"),
    ), "a leap February"
    assert bar("1M", "1969-12-31T23:59:59+00:00", 14 * HOUR_MS) == (
        ms("1970-01-01T00:00:00+14:00"),
        ms("1970-02-01T00:00:00+14:00"),
    ), "before the epoch in UTC"


@given(
    time_ms=st.integers(ms("1990-01-01T00:00:00+00:00"), ms("2100-01-01T00:00:00+00:00")),
    offset_ms=st.integers(MIN_OFFSET_MS, MAX_OFFSET_MS),
    name=st.sampled_from(list(INTERVALS)),
)
def test_every_time_falls_in_one_bar_starting_on_a_local_boundary(time_ms: int, offset_ms: int, name: str) -> None:
    interval = INTERVALS[name]
    start = interval.start_of(time_ms, offset_ms)
    end = interval.next_start(start, offset_ms)
    assert start <= time_ms < end
    assert interval.start_of(start, offset_ms) == start
    assert interval.start_of(end, offset_ms) == end, "the next bar starts where this one ends"
    local = datetime.datetime.fromtimestamp((start + offset_ms) / 1000, datetime.UTC)
    if interval.months:
        assert (local.day, local.hour, local.minute, local.second, local.microsecond) == (1, 0, 0, 0, 0)
    elif interval.name == "1w":
        assert (local.weekday(), local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0, 0)
    else:
        assert (start + offset_ms) % interval.length_ms == 0
        assert end - start == interval.length_ms


@pytest.mark.parametrize(
    ("text", "offset_ms"),
    [
        ("0", 0),
        ("8", 8 * HOUR_MS),
        ("+8", 8 * HOUR_MS),
        ("-1", -HOUR_MS),
        ("05:45", 5 * HOUR_MS + 45 * MINUTE_MS),
        ("-1:00", -HOUR_MS),
        ("-0:30", -30 * MINUTE_MS),
        ("14:00", MAX_OFFSET_MS),
        ("+14", MAX_OFFSET_MS),
        ("-12:00", MIN_OFFSET_MS),
    ],
)
def test_time_zones_binance_accepts(text: str, offset_ms: int) -> None:
    assert parse_time_zone(text) == offset_ms


@pytest.mark.parametrize(
    "text", ["", "15", "-13", "14:01", "-12:01", "+14:30", "5:60", "8:5", "8:", "1.5", "+-1", "UTC", "0800", "123"]
)
def test_time_zones_binance_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="timeZone"):
        parse_time_zone(text)


def test_binance_1m_klines_open_and_close_as_the_1m_interval_says() -> None:
    rows = json.loads(shared_data("rest/nautilus_spot_klines_1m_btcusdt_2021-10-22.json").read_text())
    minute = INTERVALS["1m"]
    assert rows
    for row in rows:
        open_time, close_time = row[0], row[6]
        assert minute.start_of(open_time) == open_time
        assert minute.start_of(open_time + 59_999) == open_time
        assert close_time == minute.next_start(open_time) - 1
