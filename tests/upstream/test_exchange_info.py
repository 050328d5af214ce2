"""Reading exchangeInfo at the edge: any answer gives the TRADING symbols or a failed request
(``UpstreamUnavailable``, which the poller retries), never another error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.upstream.exchange_info import trading_symbols
from candlecast.upstream.rest_client import UpstreamUnavailable
from tests.conftest import shared_data

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
ENTRY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "", "btc usdt", "X" * 30]) | JSON},
        optional={"status": st.sampled_from(["TRADING", "BREAK", "HALT", ""]) | JSON, "baseAsset": JSON},
    ),
)
ANSWER = st.one_of(JSON, st.fixed_dictionaries({"symbols": JSON | st.lists(ENTRY, max_size=6)}, optional={"x": JSON}))


def read(body: bytes) -> frozenset[str] | None:
    """The TRADING symbols, or None for a failed request; any other exception fails the test."""
    try:
        return trading_symbols(body)
    except UpstreamUnavailable:
        return None


@settings(max_examples=400, deadline=None)
@given(ANSWER)
def test_any_json_answer_gives_trading_symbols_or_a_failed_request(answer: Any) -> None:
    trading = read(json.dumps(answer).encode())
    if trading is not None:
        entries = answer["symbols"]
        assert trading == {e["symbol"] for e in entries if e["status"] == "TRADING"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_trading_symbols_or_a_failed_request(body: bytes) -> None:
    read(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b"[]",
        b'{"symbols": {}}',
        b'{"symbols": [1]}',
        b'{"symbols": []}',
        b'{"symbols": [{"symbol": "BTCUSDT"}]}',
        b'{"symbols": [{"status": "TRADING"}]}',
        b'{"symbols": [{"symbol": "BTCUSDT", "status": 1}]}',
        b'{"symbols": [{"symbol": "btc usdt", "status": "TRADING"}]}',
        b'{"symbols": [{"symbol": "BTCUSDT", "status": "TRADING"}',
        b'{"symbols": [{"symbol": "\xff", "status": "TRADING"}]}',
        b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "symbols": []}',
    ],
    ids=[
        "not-json",
        "empty",
        "list",
        "symbols-not-list",
        "entry-not-dict",
        "no-symbols",
        "no-status",
        "no-symbol",
        "status-not-text",
        "not-a-symbol",
        "cut",
        "not-utf8",
        "nested",
    ],
)
def test_a_malformed_answer_is_a_failed_request(body: bytes) -> None:
    with pytest.raises(UpstreamUnavailable, match="exchangeInfo: malformed answer"):
        trading_symbols(body)


def test_a_symbol_in_any_other_status_is_not_trading() -> None:
    body = b'{"symbols": [{"symbol": "BTCUSDT", "status": "TRADING"}, {"symbol": "LUNAUSDT", "status": "BREAK"}]}'
    assert trading_symbols(body) == {"BTCUSDT"}


def test_trading_symbols_from_real_exchange_info() -> None:
    trading = trading_symbols(shared_data("exchangeInfo_spot_2021-10-12.json").read_bytes())
    assert len(trading) == 1262 and "BTCUSDT" in trading
