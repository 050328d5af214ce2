"""The parameters of GET /candles/{symbol}, parsed without a server: every value named in the docs
is read as documented, and any string at all in any parameter (or the Accept header) is either a
value or an InvalidParameter naming that parameter, never another exception."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from candlecast.history.intervals import HOUR_MS, INTERVALS, MINUTE_MS
from candlecast.http.history_params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_TIME_MS,
    HistoryQuery,
    InvalidParameter,
    Param,
    encode_cursor,
    parse_cursor,
    parse_history_query,
)

PARAMS: tuple[Param, ...] = get_args(Param)
MOMENT_MS = 1_796_566_769_000  # 2026-12-06T14:19:29Z


def parsed(**params: Any) -> HistoryQuery:
    return parse_history_query(params, None)


def refused(params: dict[str, Any], accept: str | None = None) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as raised:
        parse_history_query(params, accept)
    return raised.value


def test_no_parameters_ask_for_the_newest_60_seconds_as_json() -> None:
    assert parsed() == HistoryQuery(
        interval=INTERVALS["1s"], start_ms=None, end_ms=None, limit=DEFAULT_LIMIT, offset_ms=0, format="json"
    )
    assert DEFAULT_LIMIT == 60


@pytest.mark.parametrize(
    "text",
    [
        str(MOMENT_MS),
        "2026-12-06T14:19:29Z",
        "2026-12-06T14:19:29",
        "2026-12-06 14:19:29.000",
        "2026-12-06T15:19:29+01:00",
        "2026-12-06T08:34:29-05:45",
        "20261206T141929Z",
    ],
)
def test_times_are_epoch_ms_or_iso_8601_in_utc_unless_a_zone_is_named(text: str) -> None:
    assert parsed(start=text).start_ms == MOMENT_MS
    assert parsed(end=text).end_ms == MOMENT_MS


def test_times_keep_milliseconds_and_a_date_alone_is_its_midnight() -> None:
    assert parsed(start="2026-12-06T14:19:29.123Z").start_ms == MOMENT_MS + 123
    assert parsed(end="2026-12-06").end_ms == MOMENT_MS - (14 * 3600 + 19 * 60 + 29) * 1000


@pytest.mark.parametrize(
    "text",
    ["-1", "1e12", "0x10", "1_000", " 1000", "١٢٣", str(MAX_TIME_MS + 1), "1969-12-31T23:59:59Z", "yesterday", ""],
)
def test_times_outside_1970_to_the_limit_or_in_another_form_name_the_parameter(text: str) -> None:
    assert refused({"start": text}).param == "start"
    assert refused({"end": text}).param == "end"


def test_every_binance_interval_and_time_zone_is_read() -> None:
    assert [parsed(interval=name).interval for name in INTERVALS] == list(INTERVALS.values())
    assert parsed(tz="8").offset_ms == 8 * HOUR_MS
    assert parsed(tz="-5:45").offset_ms == -(5 * HOUR_MS + 45 * MINUTE_MS)
    assert parsed(tz=" 8").offset_ms == 8 * HOUR_MS, "a + in a query string arrives as a space"
    assert refused({"interval": "1min"}).param == "interval"
    assert refused({"interval": "1S"}).param == "interval"
    assert refused({"tz": "15"}).param == "tz"
    assert refused({"tz": "Europe/Paris"}).param == "tz"


def test_limit_is_a_whole_number_from_1_to_the_maximum() -> None:
    assert parsed(limit="1").limit == 1
    assert parsed(limit=str(MAX_LIMIT)).limit == MAX_LIMIT
    for text in ("0", "-1", "1.5", "abc", "", str(MAX_LIMIT + 1), "9" * 30):
        assert refused({"limit": text}).param == "limit", text
    assert parse_history_query({"limit": "100"}, None, max_limit=100).limit == 100
    with pytest.raises(InvalidParameter):
        parse_history_query({"limit": "101"}, None, max_limit=100)


def test_csv_is_asked_by_format_or_by_the_accept_header_and_format_wins() -> None:
    assert parsed(format="csv").format == "csv"
    assert parse_history_query({}, "text/csv").format == "csv"
    assert parse_history_query({}, "text/csv;q=0.5, application/json").format == "json"
    assert parse_history_query({}, "*/*").format == "json"
    assert parse_history_query({}, "image/png").format == "json"
    assert parse_history_query({"format": "json"}, "text/csv").format == "json"
    assert refused({"format": "xml"}).param == "format"
    assert refused({"format": "CSV"}).param == "format"


@given(st.integers(min_value=0, max_value=MAX_TIME_MS))
def test_a_cursor_gives_back_the_open_time_it_was_made_from(open_time: int) -> None:
    cursor = encode_cursor(open_time)
    assert parse_cursor(cursor) == open_time
    assert parsed(cursor=cursor).start_ms == open_time


def test_a_cursor_replaces_start_and_end_may_not_precede_start() -> None:
    cursor = encode_cursor(MOMENT_MS)
    assert refused({"cursor": cursor, "start": "0"}).param == "cursor"
    assert refused({"cursor": "not-a-cursor"}).param == "cursor"
    assert refused({"cursor": encode_cursor(MAX_TIME_MS + 1)}).param == "cursor"
    assert refused({"start": str(MOMENT_MS), "end": str(MOMENT_MS - 1)}).param == "end"
    assert refused({"cursor": cursor, "end": str(MOMENT_MS - 1)}).param == "end"
    assert parsed(start=str(MOMENT_MS), end=str(MOMENT_MS)).end_ms == MOMENT_MS


def test_a_parameter_given_twice_is_named() -> None:
    assert refused({"limit": ["1", "2"], "interval": "1m"}).param == "limit"


def test_parameters_not_named_are_ignored() -> None:
    assert parse_history_query({"_": "1700000000", "symbol": "x"}, None) == parsed()


def test_a_long_bad_value_is_cut_in_the_error() -> None:
    error = refused({"interval": "x" * 1000})
    assert len(str(error)) < 200 and "..." in str(error)


# Strings shaped like ISO-8601, where the parser's edges are.
ISO_LIKE = st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.,+Z-]{0,20}", fullmatch=True)


@pytest.mark.parametrize("param", PARAMS)
@given(text=st.one_of(st.text(), ISO_LIKE))
def test_any_string_in_one_parameter_is_a_value_or_an_error_naming_it(param: Param, text: str) -> None:
    try:
        parsed(**{param: text})
    except InvalidParameter as error:
        assert error.param == param and str(error).startswith(f"{param}: ")


VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**16), max_value=10**16).map(str),
    st.sampled_from([*INTERVALS, "csv", "json", "8", "-12:00", "14:00", encode_cursor(MOMENT_MS)]),
    st.datetimes().map(lambda moment: moment.isoformat()),
    ISO_LIKE,
)


@given(
    params=st.dictionaries(st.sampled_from(PARAMS), st.one_of(VALUES, st.lists(VALUES, min_size=2, max_size=2))),
    accept=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["text/csv", "text/*;q=0.1", "*/*;q=x"])),
)
def test_any_parameters_and_accept_header_are_a_query_or_an_error_naming_one_of_them(
    params: dict[str, Any], accept: str | None
) -> None:
    try:
        query = parse_history_query(params, accept)
    except InvalidParameter as error:
        assert error.param in params
        return
    if query.start_ms is not None and query.end_ms is not None:
        assert query.start_ms <= query.end_ms
    assert 1 <= query.limit <= MAX_LIMIT
