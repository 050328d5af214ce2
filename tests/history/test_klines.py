"""The kline wire format without a server: requests read as Binance reads them, bars selected as
Binance selects them, and rows written exactly as a recorded Binance answer has them."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from candlecast.history.intervals import INTERVALS
from candlecast.history.klines import KlineRequest, decimal_text, parse_request, parse_rows, row, select
from candlecast.history.store import KlineQuery
from candlecast.http.binance_request import ApiError

RECORDED_KLINES = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance" / "rest"
) / "nautilus_spot_klines_1m_btcusdt_2021-10-22.json"
LISTED = frozenset({"BTCUSDT"})
MAY_2024_MS = int(datetime.datetime(2024, 5, 17, 13, 45, 10, tzinfo=datetime.UTC).timestamp() * 1000)


def utc_ms(*parts: int) -> int:
    year, month, day, *clock = parts
    return int(datetime.datetime(year, month, day, *clock, tzinfo=datetime.UTC).timestamp() * 1000)


def test_a_recorded_binance_answer_is_read_and_written_back_byte_for_byte() -> None:
    if not RECORDED_KLINES.is_file():
        pytest.skip(f"recorded Binance klines not found at {RECORDED_KLINES.resolve()}")
    body = RECORDED_KLINES.read_bytes()
    bars = parse_rows("BTCUSDT", body)
    assert len(bars) == 10 and bars[0].quote_volume == Decimal("1313200.01340410")
    assert [row(bar) for bar in bars] == json.loads(body)


@given(st.decimals(min_value=0, max_value=10**12, places=16, allow_nan=False, allow_infinity=False))
def test_decimals_keep_eight_places_and_every_digit_beyond(value: Decimal) -> None:
    text = decimal_text(value)
    assert Decimal(text) == value, "never rounded"
    assert len(text.partition(".")[2]) >= 8
    assert text == f"{value:.8f}" or not text.endswith("0"), "eight places, or exactly the digits it has"


def test_a_request_is_read_with_binances_defaults() -> None:
    params = {"symbol": "BTCUSDT", "interval": "1M", "timeZone": "-3:30", "startTime": "5", "endTime": "10"}
    assert parse_request(params, LISTED) == KlineRequest("BTCUSDT", INTERVALS["1M"], 5, 10, 500, -12_600_000)
    assert parse_request({"symbol": "BTCUSDT", "interval": "1s", "limit": "1000"}, LISTED).limit == 1000


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": ["BTCUSDT", "BTCUSDT"], "interval": "1m"}, -1101),
        ({"interval": "1m"}, -1102),
        ({"symbol": "", "interval": "1m"}, -1102),
        ({"symbol": "BTC USDT", "interval": "1m"}, -1100),
        ({"symbol": "ETHUSDT", "interval": "1m"}, -1121),
        ({"symbol": "BTCUSDT", "interval": "1mo"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "\uff11\uff12"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "endTime": "1" * 21}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "1m", "timeZone": "+14:01"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "1m", "timezone": "8"}, -1104),
    ],
)
def test_a_bad_request_is_refused_with_binances_code(params: dict[str, str | list[str]], code: int) -> None:
    with pytest.raises(ApiError) as refused:
        parse_request(params, LISTED)
    assert refused.value.code == code and refused.value.status == "400 Bad Request"


def request(
    interval: str, *, start: int | None = None, end: int | None = None, limit: int = 3, zone: int = 0
) -> KlineRequest:
    return KlineRequest("BTCUSDT", INTERVALS[interval], start, end, limit, zone)


def test_without_start_the_limit_bar_periods_up_to_the_end_are_selected() -> None:
    assert select(request("1M"), MAY_2024_MS) == KlineQuery(
        "BTCUSDT", INTERVALS["1M"], utc_ms(2024, 3, 1), utc_ms(2024, 6, 1) - 1, 3
    )
    assert select(request("1w", end=MAY_2024_MS, limit=2), MAY_2024_MS + 10**9) == KlineQuery(
        "BTCUSDT", INTERVALS["1w"], utc_ms(2024, 5, 6), utc_ms(2024, 5, 20) - 1, 2
    ), "weeks start on Monday"
    eight = 8 * 3_600_000
    assert select(request("1d", end=MAY_2024_MS, limit=1, zone=eight), MAY_2024_MS) == KlineQuery(
        "BTCUSDT", INTERVALS["1d"], utc_ms(2024, 5, 17) - eight, utc_ms(2024, 5, 18) - eight - 1, 1, eight
    ), "days start at local midnight"


def test_with_start_bars_open_at_or_after_it_up_to_the_end() -> None:
    query = select(request("1m", start=MAY_2024_MS, end=MAY_2024_MS + 180_000), MAY_2024_MS + 10**9)
    assert query == KlineQuery(
        "BTCUSDT", INTERVALS["1m"], utc_ms(2024, 5, 17, 13, 46), utc_ms(2024, 5, 17, 13, 49) - 1, 3
    )
    exact = select(request("1m", start=utc_ms(2024, 5, 17, 13, 46)), utc_ms(2024, 5, 17, 13, 46, 30))
    assert exact is not None and (exact.start_ms, exact.end_ms) == (
        utc_ms(2024, 5, 17, 13, 46),
        utc_ms(2024, 5, 17, 13, 47) - 1,
    )
    assert select(request("1m", start=MAY_2024_MS, end=MAY_2024_MS - 1), MAY_2024_MS) is None
    assert select(request("1m", start=MAY_2024_MS + 1), MAY_2024_MS) is None, "nothing newer than the newest"
    assert select(request("1M", start=10**19), MAY_2024_MS) is None, "a start past every date"
    assert select(request("1m", start=MAY_2024_MS, end=MAY_2024_MS + 30_000), MAY_2024_MS) is None, "no bar opens in it"
