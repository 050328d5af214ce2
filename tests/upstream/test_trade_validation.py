"""Every trade from upstream is checked at the edge: whatever a frame or a REST answer holds,
the parser returns a trade no real exchange could not have made, or says why not."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.market_data import Trade
from candlecast.upstream import binance

STREAM = "btcusdt@trade"
NOW_MS = 1_700_000_000_000
EARLIEST, LATEST = NOW_MS - 30_000, NOW_MS + 2_000
VALID_EVENT = {
    "e": "trade",
    "E": NOW_MS,
    "s": "BTCUSDT",
    "t": 12345,
    "p": "43012.15000000",
    "q": "0.00100000",
    "T": NOW_MS,
    "m": True,
    "M": True,
}
PARSED = (Trade, binance.ControlReply, binance.OtherEvent, binance.ShutdownNotice)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)
hostile_values = (
    st.sampled_from(
        [
            "NaN",
            "sNaN",
            "-NaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e999999",
            "1e-999999",
            "0",
            "-0",
            "0.00000000",
            "-1.5",
            "1E+31",
            "1E-31",
            "1" * 41,
            "0." + "0" * 29 + "1",
            "9" * 40,
            "",
            " 1",
            "1_000",
            "0x10",
            None,
            True,
            [],
            {},
            -1,
            0,
            2**63,
            2**64,
            -(2**63),
            10**30,
            1.5,
            "BTCUSDT",
            "ETHUSDT",
            "btcusdt",
            "trade",
            "kline",
            NOW_MS + 2_001,
            NOW_MS - 30_001,
            NOW_MS + 10**12,
            253_402_300_800_000,
        ]
    )
    | json_values
)


def assert_sane(item: Any, earliest: int = binance.EARLIEST_TIME_MS, latest: int = binance.LATEST_TIME_MS) -> None:
    assert isinstance(item, PARSED)
    if isinstance(item, Trade):
        assert item.symbol == "BTCUSDT"
        assert 0 <= item.trade_id <= binance.MAX_TRADE_ID and item.count == 1
        assert earliest <= item.time <= latest
        for value in (item.price, item.quantity):
            assert value.is_finite() and value > 0
            assert -30 <= value.adjusted() <= 30 and len(value.as_tuple().digits) <= 40


def parse_or_reject(
    frame: bytes | str, earliest: int = binance.EARLIEST_TIME_MS, latest: int = binance.LATEST_TIME_MS
) -> Any:
    """The parsed item, or None when the frame was rejected the one documented way."""
    try:
        item = binance.parse_frame(frame, earliest, latest)
    except binance.MalformedFrame:
        binance.rejected_trade(frame)  # never raises either
        return None
    assert_sane(item, earliest, latest)
    return item


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_rejected(data: bytes) -> None:
    parse_or_reject(data)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, STREAM, "btcusdt@aggTrade", "ethusdt@trade"]))
def test_any_json_parses_or_is_rejected(value: Any, stream: str | None) -> None:
    frame = value if stream is None else {"stream": stream, "data": value}
    parse_or_reject(json.dumps(frame))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(VALID_EVENT)), hostile_values, st.booleans())
def test_a_mutated_trade_frame_parses_sane_or_is_rejected(field: str, value: Any, extra: bool) -> None:
    event = {**VALID_EVENT, field: value}
    frame = {"stream": STREAM, "data": event, **({"id": None} if extra else {})}  # both decoding paths
    parse_or_reject(json.dumps(frame), EARLIEST, LATEST)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_trade_frame_with_bytes_changed_parses_sane_or_is_rejected(data: st.DataObject) -> None:
    frame = bytearray(json.dumps({"stream": STREAM, "data": VALID_EVENT}).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    parse_or_reject(bytes(frame), EARLIEST, LATEST)


@pytest.mark.parametrize(
    "price", ["NaN", "sNaN", "Infinity", "-Infinity", "1e999999", "1e-31", "0", "-2", "1." + "0" * 40]
)
def test_prices_no_trade_has_are_rejected_and_name_the_trade(price: str) -> None:
    frame = json.dumps({"stream": STREAM, "data": {**VALID_EVENT, "p": price}})
    with pytest.raises(binance.MalformedFrame, match=r"price|\$\.p`"):  # over 40 characters: the decoder says
        binance.parse_frame(frame)
    assert binance.rejected_trade(frame) == ("BTCUSDT", 12345)


def test_every_bound_admits_the_values_binance_writes() -> None:
    for text in ("0.00000001", "99999999999.99999999", "43012.15000000", "1E+5", "1E-30", "9" * 31 + "." + "9" * 9):
        assert binance.sane_decimal(Decimal(text)), text
    assert binance.parse_frame(json.dumps({"stream": STREAM, "data": {**VALID_EVENT, "t": 0}}), EARLIEST, LATEST)


@pytest.mark.parametrize("time_ms", [EARLIEST - 1, LATEST + 1, NOW_MS + 3 * 365 * 86_400_000])
def test_a_trade_outside_the_time_window_is_rejected(time_ms: int) -> None:
    frame = json.dumps({"stream": STREAM, "data": {**VALID_EVENT, "T": time_ms}})
    with pytest.raises(binance.MalformedFrame, match="time"):
        binance.parse_frame(frame, EARLIEST, LATEST)
    assert binance.parse_frame(frame).time == time_ms  # without a window, only the calendar bounds it


@pytest.mark.parametrize("trade_id", [-1, 2**63, 2**70])
def test_ids_out_of_range_are_rejected(trade_id: int) -> None:
    frame = json.dumps({"stream": STREAM, "data": {**VALID_EVENT, "t": trade_id}})
    with pytest.raises(binance.MalformedFrame):
        binance.parse_frame(frame)
    assert binance.rejected_trade(frame) is None


def test_a_trade_of_another_symbol_on_a_stream_is_rejected_and_names_no_symbol() -> None:
    frame = json.dumps({"stream": STREAM, "data": {**VALID_EVENT, "s": "ETHUSDT"}})
    with pytest.raises(binance.MalformedFrame, match="not the stream's"):
        binance.parse_frame(frame)
    assert binance.rejected_trade(frame) is None


@pytest.mark.parametrize("where", ["top", "data", "unknown field"])
def test_deeply_nested_json_is_rejected(where: str) -> None:
    nested = "[" * 5000 + "]" * 5000
    frame = {
        "top": nested,
        "data": f'{{"stream":"{STREAM}","data":{nested}}}',
        "unknown field": f'{{"stream":"{STREAM}","data":{{"e":"trade","x":{nested}}}}}',
    }[where]
    with pytest.raises(binance.MalformedFrame, match=r"nested|Expected"):
        binance.parse_frame(frame)
    assert binance.rejected_trade(frame) is None


def rest_rows(**change: Any) -> bytes:
    rows = [
        {"id": 7, "price": "1.5", "qty": "2", "time": NOW_MS, "isBuyerMaker": True, "isBestMatch": True},
        {"id": 8, "price": "1.6", "qty": "1", "time": NOW_MS, "isBuyerMaker": False, "isBestMatch": True},
    ]
    rows[1].update(change)
    return json.dumps(rows).encode()


def agg_rows(**change: Any) -> bytes:
    rows = [{"a": 1, "p": "1.5", "q": "2", "f": 7, "l": 8, "T": NOW_MS, "m": True, "M": True}]
    rows[0].update(change)
    return json.dumps(rows).encode()


def test_rest_answers_pass_the_same_checks() -> None:
    assert [t.trade_id for t in binance.parse_rest_trades("BTCUSDT", rest_rows())] == [7, 8]
    assert binance.parse_agg_trades("BTCUSDT", agg_rows())[0][1].count == 2
    for bad in (
        {"price": "NaN"},
        {"qty": "Infinity"},
        {"price": "-1"},
        {"qty": "1e999999"},
        {"id": -3},
        {"time": -1},
        {"time": 10**16},
    ):
        with pytest.raises(binance.MalformedFrame):
            binance.parse_rest_trades("BTCUSDT", rest_rows(**bad))
    for bad in ({"p": "sNaN"}, {"q": "0"}, {"f": -1}, {"l": 2**63}, {"a": -1}, {"T": 10**16}):
        with pytest.raises(binance.MalformedFrame):
            binance.parse_agg_trades("BTCUSDT", agg_rows(**bad))
    nested = b'[{"id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}]"
    with pytest.raises(binance.MalformedFrame, match="RecursionError"):
        binance.parse_rest_trades("BTCUSDT", nested)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["id", "price", "qty", "time"]), hostile_values)
def test_a_rest_answer_parses_sane_or_is_rejected(field: str, value: Any) -> None:
    try:
        trades = binance.parse_rest_trades("BTCUSDT", rest_rows(**{field: value}))
    except binance.MalformedFrame:
        return
    for trade in trades:
        assert_sane(trade)
