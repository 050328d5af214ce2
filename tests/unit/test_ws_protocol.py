"""Client commands and connect-time queries of the WebSocket bridge."""

from __future__ import annotations

import pytest

from candlecast import subscriptions
from candlecast.http.ws_protocol import Command, CommandError, ConnectRequest, parse_command, parse_query


def test_subscribe_command() -> None:
    command = parse_command('{"op": "subscribe", "symbols": ["btcusdt", "ETHUSDT"], "channels": ["trade", "candle"], "id": 9}')
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
    ["", "nope", "[]", '{"op": 1}', '{"op": "subscribe", "symbols": [1]}', '{"op": "subscribe", "channels": ["book"]}',
     '{"op": "subscribe", "channels": []}', '{"op": "list", "junk": true}', '{"op": "subscribe", "symbols": ["a b"]}'],
)
def test_bad_commands(text: str) -> None:
    with pytest.raises(CommandError):
        parse_command(text)


def test_query() -> None:
    assert parse_query("") == ConnectRequest(subscriptions.DEFAULT)
    assert parse_query("symbols=btcusdt,ethusdt&channels=trade").pairs == frozenset({("BTCUSDT", "trade"), ("ETHUSDT", "trade")})
    assert parse_query("channels=trade") == ConnectRequest(frozenset({("*", "trade")}))
    assert parse_query("symbols=btcusdt") == ConnectRequest(frozenset({("BTCUSDT", "candle")}))
    assert parse_query("since=1795836601000") == ConnectRequest(subscriptions.DEFAULT, since=1795836601000)
    with pytest.raises(CommandError):
        parse_query("channels=depth")
