"""Client commands and connect-time queries of the WebSocket bridge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.fanout import subscriptions
from candlecast.http.client_protocol import (
    MAX_ID_CHARS,
    OPS,
    SINCE_BOUND,
    Command,
    CommandError,
    ConnectRequest,
    parse_command,
    parse_query,
)


def test_subscribe_command() -> None:
    command = parse_command(
        '{"op": "subscribe", "symbols": ["btcusdt", "ETHUSDT"], "channels": ["trade", "candle"], "id": 9}'
    )
    assert command == Command(
        op="subscribe",
        pairs=frozenset({("BTCUSDT", "trade"), ("BTCUSDT", "candle"), ("ETHUSDT", "trade"), ("ETHUSDT", "candle")}),
        request_id=9,
    )


def test_defaults_are_all_symbols_and_candles() -> None:
    assert parse_command('{"op": "subscribe"}').pairs == subscriptions.DEFAULT
    assert parse_command('{"op": "subscribe", "symbols": "*"}').pairs == subscriptions.DEFAULT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "[]",
        '{"op": 1}',
        '{"op": "subscribe", "symbols": [1]}',
        '{"op": "subscribe", "channels": ["book"]}',
        '{"op": "subscribe", "channels": []}',
        '{"op": "list", "junk": true}',
        '{"op": "subscribe", "symbols": ["a b"]}',
    ],
)
def test_bad_commands(text: str) -> None:
    with pytest.raises(CommandError):
        parse_command(text)


def test_query() -> None:
    assert parse_query("") == ConnectRequest(subscriptions.DEFAULT)
    assert parse_query("symbols=btcusdt,ethusdt&channels=trade").pairs == frozenset(
        {("BTCUSDT", "trade"), ("ETHUSDT", "trade")}
    )
    assert parse_query("channels=trade") == ConnectRequest(frozenset({("*", "trade")}))
    assert parse_query("symbols=btcusdt") == ConnectRequest(frozenset({("BTCUSDT", "candle")}))
    assert parse_query("since=1795836601000") == ConnectRequest(subscriptions.DEFAULT, since=1795836601000)
    with pytest.raises(CommandError):
        parse_query("channels=depth")


HOSTILE_COMMANDS = [
    '{"op": "subscribe", "since": "\u00b2"}',  # "²".isdigit(), but int() refuses it
    '{"op": "subscribe", "since": "\u0661\u0662"}',  # Arabic-Indic digits
    '{"op": "subscribe", "since": "' + "9" * 5000 + '"}',  # past Python's int digit limit
    '{"op": "subscribe", "since": "' + "9" * 16 + '"}',
    '{"op": "subscribe", "since": ' + "9" * 16 + "}",
    '{"op": "subscribe", "since": ' + "9" * 5000 + "}",
    '{"op": "subscribe", "since": 1.5}',
    '{"op": "subscribe", "since": 1e400}',
    '{"op": "subscribe", "since": true}',
    '{"op": "subscribe", "since": -1}',
    '{"op": "subscribe", "since": "-1"}',
    '{"op": "subscribe", "since": ""}',
    '{"op": "subscribe", "since": [1]}',
    "[" * 1000 + "]" * 1000,
    '{"op": "list", "id": ' + "[" * 1000 + "]" * 1000 + "}",
    '{"op": "list", "id": ' + "9" * 30 + "}",
    '{"op": "list", "id": 9223372036854775808}',
    '{"op": "list", "id": [1]}',
    '{"op": "list", "id": {"a": 1}}',
    '{"op": "list", "id": 1.5}',
    '{"op": "list", "id": true}',
    '{"op": "list", "id": "' + "x" * 200 + '"}',
    '"\ud800"',
    b"\xff\xfe{}",
    b'{"op": "list"}\xc3',
    "42",
    "null",
]


@pytest.mark.parametrize("text", HOSTILE_COMMANDS, ids=lambda t: repr(t[:20]))
def test_hostile_commands_are_command_errors(text: str | bytes) -> None:
    with pytest.raises(CommandError):
        parse_command(text)


@pytest.mark.parametrize(
    "since",
    ["9" * 15, 10**15 - 1, 0, "0", "1795836601000", 1795836601000],
)
def test_since_within_bounds(since: str | int) -> None:
    assert parse_command(msgspec.json.encode({"op": "subscribe", "since": since})).since == int(since)


@pytest.mark.parametrize("request_id", [None, 0, -(2**63), 2**63 - 1, "", "x" * MAX_ID_CHARS])
def test_ids_echoed_back(request_id: object) -> None:
    assert parse_command(msgspec.json.encode({"op": "list", "id": request_id})).request_id == request_id


@pytest.mark.parametrize(
    "query",
    [
        "since=\u00b2",
        "since=%C2%B2",
        "since=" + "9" * 5000,
        "since=-1",
        "since=1.5",
        "since=1e3",
        "since=+1",
        "symbols=" + "%5B" * 1000,
        "channels=%FF",
        "symbols=%ED%A0%80",
    ],
)
def test_hostile_queries_are_command_errors(query: str) -> None:
    with pytest.raises(CommandError):
        parse_query(query)


# Text that reads as digits to str.isdigit: ASCII, other scripts' digits, superscripts.
DIGITS = st.text(st.characters(categories=("Nd", "No")) | st.sampled_from("0123456789"), max_size=20)
NESTING = st.integers(0, 3000).map(lambda depth: "[" * depth + "]" * depth)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | DIGITS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
COMMAND_FIELDS = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS)},
    optional={
        "symbols": st.just(["btcusdt"]) | JSON_VALUES,
        "channels": st.just(["trade"]) | JSON_VALUES,
        "since": DIGITS | st.integers() | JSON_VALUES,
        "id": JSON_VALUES,
    },
)


def parses_or_refuses(parse: Callable[[Any], Command | ConnectRequest], value: Any) -> None:
    """The parser's contract: a CommandError, or a result whose since and id are within bounds."""
    try:
        parsed = parse(value)
    except CommandError:
        return
    assert parsed.since is None or (type(parsed.since) is int and 0 <= parsed.since < SINCE_BOUND)
    request_id = getattr(parsed, "request_id", None)
    assert (
        request_id is None
        or (type(request_id) is str and len(request_id) <= MAX_ID_CHARS)
        or (type(request_id) is int and -(2**63) <= request_id < 2**63)
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200) | NESTING)
def test_any_text_or_bytes_is_a_command_or_an_error(text: str | bytes) -> None:
    parses_or_refuses(parse_command, text)


@settings(max_examples=300, deadline=None)
@given(COMMAND_FIELDS | JSON_VALUES)
def test_any_json_value_is_a_command_or_an_error(value: Any) -> None:
    parses_or_refuses(parse_command, json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | DIGITS.map(lambda since: "since=" + since))
def test_any_query_string_is_a_request_or_an_error(query: str) -> None:
    parses_or_refuses(parse_query, query)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["symbols", "channels", "since", "other"]), st.text(max_size=30) | DIGITS, max_size=4
    )
)
def test_any_query_fields_are_a_request_or_an_error(fields: dict[str, str]) -> None:
    parses_or_refuses(parse_query, urlencode(fields))
