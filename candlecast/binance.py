"""Binance's spot market-data wire format, in one place, for the client and the simulator.

Pure functions only: what a stream is called, how a frame parses into a Trade, how requests
and REST payloads look. Shapes follow Binance's spot API docs (web-socket-streams, rest-api).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable, Sequence

import msgspec

from candlecast.messages import Trade

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
TRADE_STREAM_SUFFIX = "@trade"
_ZERO = Decimal(0)


class MalformedFrame(ValueError):
    """An upstream frame that is not JSON or not the shape Binance documents."""


class TradePayload(msgspec.Struct, frozen=True):
    """The ``<symbol>@trade`` event; unknown fields (E, M, legacy b/a) are ignored."""

    e: str
    s: str
    t: int
    p: Decimal
    q: Decimal
    T: int
    m: bool


class ErrorPayload(msgspec.Struct, frozen=True):
    code: int
    msg: str


NO_DATA = msgspec.Raw(b"")


class EventHead(msgspec.Struct, frozen=True):
    """The type and time every Binance event starts with."""

    e: str | None = None
    E: int = 0


class Envelope(msgspec.Struct, frozen=True):
    """Anything a combined-stream connection receives: an event or a request's reply.

    ``serverShutdown`` may come bare (``e``/``E`` at the top), wrapped like a stream event,
    or under ``event``; all three are read.
    """

    stream: str | None = None
    data: msgspec.Raw = NO_DATA
    result: Any = None
    id: Any = None
    error: ErrorPayload | None = None
    e: str | None = None
    E: int = 0
    event: EventHead | None = None


class ControlReply(msgspec.Struct, frozen=True):
    """Reply to SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS: ``result`` or ``error``."""

    request_id: Any
    result: Any
    error: ErrorPayload | None


class OtherEvent(msgspec.Struct, frozen=True):
    """A well-formed event we do not aggregate (e.g. another stream type)."""

    stream: str


class TradeFrame(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A combined-stream frame that is exactly ``{"stream", "data"}`` with a trade's fields
    in ``data``: nearly every frame, so it is decoded in one pass; anything else (or more)
    goes through ``Envelope``."""

    stream: str
    data: TradePayload


class ShutdownNotice(msgspec.Struct, frozen=True):
    """``serverShutdown``: the server will close this connection soon; time to move."""

    event_time: int


SERVER_SHUTDOWN = "serverShutdown"


_trade_frame_decoder = msgspec.json.Decoder(TradeFrame)
_envelope_decoder = msgspec.json.Decoder(Envelope)
_trade_decoder = msgspec.json.Decoder(TradePayload)
_event_head_decoder = msgspec.json.Decoder(EventHead)


def normalize_symbol(text: str) -> str:
    """Symbols are case-insensitive on input and upper-case everywhere inside."""
    return text.strip().upper()


def is_valid_symbol(symbol: str) -> bool:
    return bool(SYMBOL_PATTERN.match(symbol))


def stream_name(symbol: str) -> str:
    return symbol.lower() + TRADE_STREAM_SUFFIX


def symbol_of_stream(stream: str) -> str | None:
    if not stream.endswith(TRADE_STREAM_SUFFIX):
        return None
    return stream[: -len(TRADE_STREAM_SUFFIX)].upper()


def combined_stream_url(base_url: str, symbols: Iterable[str]) -> str:
    streams = "/".join(stream_name(s) for s in sorted(symbols))
    return f"{base_url.rstrip('/')}/stream?streams={streams}"


def control_request(method: str, streams: Iterable[str], request_id: int) -> str:
    """A SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS request as Binance expects it."""
    body: dict[str, Any] = {"method": method, "id": request_id}
    if method != "LIST_SUBSCRIPTIONS":
        body["params"] = list(streams)
    return msgspec.json.encode(body).decode()


def parse_frame(data: bytes | str) -> Trade | ControlReply | OtherEvent | ShutdownNotice:
    """Turn one combined-stream frame into a Trade, a request reply, a shutdown notice or another event.

    Frames arrive unchecked for UTF-8; msgspec raises ``UnicodeDecodeError`` on a string it reads
    that is not, and such a frame is malformed like any other (the envelope's way says so).
    Every live trade goes through here, so the common case is one decode and one check.
    """
    try:
        frame = _trade_frame_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _parse_envelope(data)
    if not frame.stream.endswith(TRADE_STREAM_SUFFIX):
        return _parse_envelope(data)
    return _trade(frame.stream, frame.data)


def _parse_envelope(data: bytes | str) -> Trade | ControlReply | OtherEvent | ShutdownNotice:
    """Any frame but a plain trade frame."""
    try:
        return _read_envelope(data)
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"text is not UTF-8: {exc}") from exc


def _read_envelope(data: bytes | str) -> Trade | ControlReply | OtherEvent | ShutdownNotice:
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(str(exc)) from exc
    for head in (envelope, envelope.event):
        if head is not None and head.e == SERVER_SHUTDOWN:
            return ShutdownNotice(event_time=head.E)
    if envelope.stream is None:
        if envelope.id is None and envelope.error is None:
            raise MalformedFrame("frame has neither stream nor id")
        return ControlReply(request_id=envelope.id, result=envelope.result, error=envelope.error)
    if not envelope.data:
        raise MalformedFrame(f"event on {envelope.stream} has no data")
    if not envelope.stream.endswith(TRADE_STREAM_SUFFIX):
        try:
            head = _event_head_decoder.decode(envelope.data)
        except msgspec.DecodeError as exc:
            raise MalformedFrame(f"bad event on {envelope.stream}: {exc}") from exc
        if head.e == SERVER_SHUTDOWN:
            return ShutdownNotice(event_time=head.E)
        return OtherEvent(stream=envelope.stream)
    try:
        payload = _trade_decoder.decode(envelope.data)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"bad trade on {envelope.stream}: {exc}") from exc
    return _trade(envelope.stream, payload)


def _trade(stream: str, payload: TradePayload) -> Trade:
    if payload.e != "trade" or payload.p <= _ZERO or payload.q <= _ZERO:
        raise MalformedFrame(f"bad trade on {stream}: e={payload.e} p={payload.p} q={payload.q}")
    # Positional (symbol, trade_id, price, quantity, time, buyer_is_maker): a little cheaper per trade.
    return Trade(payload.s, payload.t, payload.p, payload.q, payload.T, payload.m)


def decimal_string(value: Decimal) -> str:
    """Binance writes every price and quantity with exactly eight decimals."""
    return f"{value:.8f}"


def trade_event(trade: Trade, event_time: int) -> dict[str, Any]:
    """The raw ``<symbol>@trade`` payload Binance pushes for ``trade``."""
    return {
        "e": "trade",
        "E": event_time,
        "s": trade.symbol,
        "t": trade.trade_id,
        "p": decimal_string(trade.price),
        "q": decimal_string(trade.quantity),
        "T": trade.time,
        "m": trade.buyer_is_maker,
        "M": True,
    }


def rest_trade(trade: Trade) -> dict[str, Any]:
    """One element of ``/api/v3/trades`` and ``/api/v3/historicalTrades``."""
    return {
        "id": trade.trade_id,
        "price": decimal_string(trade.price),
        "qty": decimal_string(trade.quantity),
        "quoteQty": decimal_string(trade.price * trade.quantity),
        "time": trade.time,
        "isBuyerMaker": trade.buyer_is_maker,
        "isBestMatch": True,
    }


def rest_agg_trade(agg_id: int, trades: Sequence[Trade]) -> dict[str, Any]:
    """One element of ``/api/v3/aggTrades``: consecutive trades of one taker order at one price."""
    first, last = trades[0], trades[-1]
    return {
        "a": agg_id,
        "p": decimal_string(first.price),
        "q": decimal_string(sum((t.quantity for t in trades), Decimal(0))),
        "f": first.trade_id,
        "l": last.trade_id,
        "T": first.time,
        "m": first.buyer_is_maker,
        "M": True,
    }


class RestTradeRow(msgspec.Struct, frozen=True):
    """One element of ``/api/v3/historicalTrades``."""

    id: int
    price: Decimal
    qty: Decimal
    time: int
    isBuyerMaker: bool


class AggTradeRow(msgspec.Struct, frozen=True):
    """One element of ``/api/v3/aggTrades``: trades ``f``..``l`` of one taker order at one price."""

    a: int
    p: Decimal
    q: Decimal
    f: int
    l: int  # noqa: E741 (Binance's field name)
    T: int
    m: bool


_rest_trades_decoder = msgspec.json.Decoder(list[RestTradeRow])
_agg_trades_decoder = msgspec.json.Decoder(list[AggTradeRow])


def parse_rest_trades(symbol: str, body: bytes) -> list[Trade]:
    try:
        rows = _rest_trades_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"bad historicalTrades answer: {exc}") from exc
    return [Trade(symbol, r.id, r.price, r.qty, r.time, r.isBuyerMaker) for r in rows]


def parse_agg_trades(symbol: str, body: bytes) -> list[tuple[int, Trade]]:
    """(aggregate id, the trades it stands for as one Trade with ``count``) per row."""
    try:
        rows = _agg_trades_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"bad aggTrades answer: {exc}") from exc
    if any(r.l < r.f for r in rows):
        raise MalformedFrame("bad aggTrades answer: a row ends before it starts")
    return [(r.a, Trade(symbol, r.f, r.p, r.q, r.T, r.m, count=r.l - r.f + 1)) for r in rows]
