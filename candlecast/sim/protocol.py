"""Binance's stream protocol as the server sees it, without I/O: connection URLs, live
requests (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY), their
replies and error replies, and the frames a trade is sent in.

Error codes and messages follow the spot docs' "Live Subscribing/Unsubscribing" section:
0 unknown property, 1 invalid value type, 2 invalid request, 3 invalid JSON.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec

from candlecast.market_data import Trade
from candlecast.sim.hostile import corrupt_event
from candlecast.upstream.binance import stream_name, trade_event

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
COMBINED_PROPERTY = "combined"
UNKNOWN_PROPERTY, INVALID_VALUE_TYPE, INVALID_REQUEST, INVALID_JSON = 0, 1, 2, 3


class StreamRequest(msgspec.Struct, frozen=True):
    """A valid live request; ``combined`` is the value SET_PROPERTY sets."""

    method: str
    request_id: int
    streams: tuple[str, ...] = ()
    combined: bool = False


class RequestError(msgspec.Struct, frozen=True):
    code: int
    msg: str
    request_id: int | None = None


class InvalidStreams(ValueError):
    """A connection URL naming a stream this exchange does not publish."""


def connection_streams(text: str, known: Collection[str]) -> tuple[str, ...]:
    """Streams named in a connection URL: ``a@trade/b@trade`` from ``/ws/...`` or ``?streams=``."""
    streams = tuple(dict.fromkeys(s for s in text.split("/") if s))
    unknown = [s for s in streams if s not in known]
    if unknown:
        raise InvalidStreams(f"Invalid request: unknown stream {unknown[0]!r}")
    return streams


def _request_id(body: dict[str, Any]) -> int | None:
    value = body.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _property_name(params: list[Any], request_id: int) -> RequestError | None:
    if not params or not isinstance(params[0], str):
        return RequestError(INVALID_REQUEST, "Invalid request: property name must be a string", request_id)
    if params[0] != COMBINED_PROPERTY:
        return RequestError(UNKNOWN_PROPERTY, "Unknown property", request_id)
    return None


def parse_request(  # noqa: PLR0911, PLR0912 (one return per check, in the order Binance checks)
    text: str | bytes, known: Collection[str]
) -> StreamRequest | RequestError:
    try:
        body = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        return RequestError(INVALID_JSON, f"Invalid JSON: {exc}")
    if not isinstance(body, dict):
        return RequestError(INVALID_REQUEST, "Invalid request: expected a JSON object")
    request_id = _request_id(body)
    if request_id is None:
        return RequestError(INVALID_REQUEST, "Invalid request: request ID must be an unsigned integer")
    method = body.get("method")
    if method is None:
        return RequestError(INVALID_REQUEST, "Invalid request: missing field `method`", request_id)
    if method not in METHODS:
        expected = ", ".join(METHODS)
        return RequestError(
            INVALID_REQUEST, f"Invalid request: unknown variant `{method}`, expected one of {expected}", request_id
        )
    params = body.get("params", [])
    if not isinstance(params, list):
        return RequestError(INVALID_REQUEST, "Invalid request: params must be a list", request_id)
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(p, str) for p in params):
            return RequestError(INVALID_REQUEST, "Invalid request: stream names must be strings", request_id)
        unknown = [p for p in params if p not in known]
        if unknown:
            return RequestError(INVALID_REQUEST, f"Invalid request: unknown stream `{unknown[0]}`", request_id)
        return StreamRequest(method, request_id, streams=tuple(dict.fromkeys(params)))
    if method == "SET_PROPERTY":
        if len(params) > 2:
            return RequestError(INVALID_REQUEST, "Invalid request: too many parameters", request_id)
        problem = _property_name(params, request_id)
        if problem is not None:
            return problem
        if len(params) < 2 or not isinstance(params[1], bool):
            return RequestError(INVALID_VALUE_TYPE, "Invalid value type: expected Boolean", request_id)
        return StreamRequest(method, request_id, combined=params[1])
    if method == "GET_PROPERTY":
        if len(params) > 1:
            return RequestError(INVALID_REQUEST, "Invalid request: too many parameters", request_id)
        return _property_name(params, request_id) or StreamRequest(method, request_id)
    return StreamRequest(method, request_id)


def reply(result: Any, request_id: int) -> str:
    return msgspec.json.encode({"result": result, "id": request_id}).decode()


def error_reply(error: RequestError) -> str:
    return msgspec.json.encode({"error": {"code": error.code, "msg": error.msg}, "id": error.request_id}).decode()


def trade_frame(trade: Trade, event_time: int, combined: bool, corruption: str | None = None) -> str:
    """A trade as a raw-stream payload or wrapped in a combined-stream envelope; with
    ``corruption``, one of its fields lies (see ``hostile.corrupt_event``)."""
    event = trade_event(trade, event_time)
    if corruption is not None:
        event = corrupt_event(event, corruption)
    body = {"stream": stream_name(trade.symbol), "data": event} if combined else event
    return msgspec.json.encode(body).decode()
