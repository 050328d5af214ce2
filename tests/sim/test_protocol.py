"""Live requests and their replies as Binance words them, without sockets."""

from __future__ import annotations

import json

import pytest

from candlecast.sim import protocol
from candlecast.sim.protocol import RequestError, StreamRequest, parse_request

KNOWN = frozenset({"btcusdt@trade", "ethusdt@trade"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@trade"],"id":1}',
            StreamRequest("SUBSCRIBE", 1, ("btcusdt@trade",)),
        ),
        (
            '{"method":"UNSUBSCRIBE","params":["ethusdt@trade"],"id":2}',
            StreamRequest("UNSUBSCRIBE", 2, ("ethusdt@trade",)),
        ),
        ('{"method":"LIST_SUBSCRIPTIONS","id":3}', StreamRequest("LIST_SUBSCRIPTIONS", 3)),
        (
            '{"method":"SET_PROPERTY","params":["combined",true],"id":5}',
            StreamRequest("SET_PROPERTY", 5, combined=True),
        ),
        ('{"method":"GET_PROPERTY","params":["combined"],"id":2}', StreamRequest("GET_PROPERTY", 2)),
    ],
)
def test_valid_requests(text: str, expected: StreamRequest) -> None:
    assert parse_request(text, KNOWN) == expected


@pytest.mark.parametrize(
    ("text", "code", "msg_start", "request_id"),
    [
        ("{not json", 3, "Invalid JSON", None),
        ("[1, 2]", 2, "Invalid request", None),
        ('{"method":"SUBSCRIBE","params":[]}', 2, "Invalid request: request ID must be an unsigned integer", None),
        (
            '{"method":"SUBSCRIBE","params":[],"id":-1}',
            2,
            "Invalid request: request ID must be an unsigned integer",
            None,
        ),
        ('{"params":[],"id":4}', 2, "Invalid request: missing field `method`", 4),
        (
            '{"method":"SUBSCRIBED","id":4}',
            2,
            "Invalid request: unknown variant `SUBSCRIBED`, expected one of SUBSCRIBE",
            4,
        ),
        ('{"method":"SUBSCRIBE","params":"btcusdt@trade","id":4}', 2, "Invalid request", 4),
        ('{"method":"SUBSCRIBE","params":["xyzusdt@trade"],"id":4}', 2, "Invalid request: unknown stream", 4),
        ('{"method":"SUBSCRIBE","params":["btcusdt@kline_1s"],"id":4}', 2, "Invalid request: unknown stream", 4),
        ('{"method":"SET_PROPERTY","params":["compressed",true],"id":6}', 0, "Unknown property", 6),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":6}', 1, "Invalid value type: expected Boolean", 6),
        ('{"method":"SET_PROPERTY","params":[1,true],"id":6}', 2, "Invalid request: property name must be a string", 6),
        ('{"method":"SET_PROPERTY","params":["combined",true,1],"id":6}', 2, "Invalid request: too many parameters", 6),
        ('{"method":"GET_PROPERTY","params":["other"],"id":7}', 0, "Unknown property", 7),
    ],
)
def test_invalid_requests(text: str, code: int, msg_start: str, request_id: int | None) -> None:
    error = parse_request(text, KNOWN)
    assert isinstance(error, RequestError)
    assert (error.code, error.request_id) == (code, request_id)
    assert error.msg.startswith(msg_start)


def test_reply_shapes() -> None:
    assert json.loads(protocol.reply(None, 1)) == {"result": None, "id": 1}
    assert json.loads(protocol.error_reply(RequestError(0, "Unknown property", 9))) == {
        "error": {"code": 0, "msg": "Unknown property"},
        "id": 9,
    }


def test_connection_streams() -> None:
    assert protocol.connection_streams("btcusdt@trade/ethusdt@trade/", KNOWN) == ("btcusdt@trade", "ethusdt@trade")
    assert protocol.connection_streams("", KNOWN) == ()
    with pytest.raises(protocol.InvalidStreams):
        protocol.connection_streams("BTCUSDT@trade", KNOWN)
