"""Binance's spot market-data wire format, in one place, for the client and the simulator.

Pure functions only: what a stream is called, how a frame parses into a Trade, how requests
and REST payloads look. Shapes follow Binance's spot API docs (web-socket-streams, rest-api).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

from candlecast.market_data import Trade

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
TRADE_STREAM_SUFFIX = "@trade"
_ZERO = Decimal(0)

# What a trade from the exchange may hold. Binance writes prices and quantities with 8 decimals
# and at most 11 integer digits; these bounds leave room around that and keep every sum, every
# JSON number and every ISO-8601 time the system writes finite and short.
MAX_ADJUSTED_EXPONENT = 30  # |value| below 10**31 and, if not 0, at least 10**-30
MAX_SIGNIFICANT_DIGITS = 40
MAX_TRADE_ID = 2**63 - 1  # Binance numbers a symbol's trades from 0
EARLIEST_TIME_MS = 0
LATEST_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_REASON_CHARS = 200
_SMALLEST = Decimal(f"1E-{MAX_ADJUSTED_EXPONENT}")
_TOO_LARGE = Decimal(f"1E{MAX_ADJUSTED_EXPONENT + 1}")


class MalformedFrame(ValueError):
    """An upstream frame or REST answer that is not JSON, not the shape Binance documents, or
    holds a value no real trade has."""


# A price or quantity as the stream writes it: a string no longer than the digits a value may
# have has no more digits than that, so the bound costs nothing past the decode (and a string
# made a Decimal here costs less than msgspec's own Decimal decoding).
DecimalText = Annotated[str, msgspec.Meta(max_length=MAX_SIGNIFICANT_DIGITS)]


class TradePayload(msgspec.Struct, frozen=True):
    """The ``<symbol>@trade`` event; unknown fields (E, M, legacy b/a) are ignored."""

    e: str
    s: str
    t: int
    p: DecimalText
    q: DecimalText
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


Frame = Trade | ControlReply | OtherEvent | ShutdownNotice


def parse_frame(data: bytes | str, earliest_ms: int = EARLIEST_TIME_MS, latest_ms: int = LATEST_TIME_MS) -> Frame:
    """Turn one combined-stream frame into a Trade, a request reply, a shutdown notice or another
    event; anything else raises ``MalformedFrame``, also a trade that fails ``check_trade``
    (its time must lie within ``earliest_ms``..``latest_ms``).

    Frames arrive unchecked for UTF-8; msgspec raises ``UnicodeDecodeError`` on a string it reads
    that is not, and such a frame is malformed like any other (the envelope's way says so).
    Every live trade goes through here, so the common case is one decode and one check.
    """
    try:
        frame = _trade_frame_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _parse_envelope(data, earliest_ms, latest_ms)
    if not frame.stream.endswith(TRADE_STREAM_SUFFIX):
        return _parse_envelope(data, earliest_ms, latest_ms)
    return _trade(frame.stream, frame.data, earliest_ms, latest_ms)


def _parse_envelope(data: bytes | str, earliest_ms: int, latest_ms: int) -> Frame:
    """Any frame but a plain trade frame."""
    try:
        return _read_envelope(data, earliest_ms, latest_ms)
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"text is not UTF-8: {exc}") from exc
    except RecursionError as exc:
        raise MalformedFrame("JSON nested too deeply") from exc


def _read_envelope(data: bytes | str, earliest_ms: int, latest_ms: int) -> Frame:
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
    return _trade(envelope.stream, payload, earliest_ms, latest_ms)


def _trade(stream: str, payload: TradePayload, earliest_ms: int, latest_ms: int) -> Trade:
    if payload.e != "trade":
        raise MalformedFrame(f"bad trade on {stream}: event type {payload.e[:20]!r}")
    if stream[: -len(TRADE_STREAM_SUFFIX)].upper() != payload.s:
        raise MalformedFrame(f"bad trade on {stream}: symbol {payload.s[:20]!r} is not the stream's")
    try:
        price, quantity = Decimal(payload.p), Decimal(payload.q)
    except (InvalidOperation, ValueError) as exc:
        raise MalformedFrame(
            f"bad trade on {stream}: price {payload.p!r} or quantity {payload.q!r} is not a number"
        ) from exc
    # Positional (symbol, trade_id, price, quantity, time, buyer_is_maker): a little cheaper per trade.
    trade = Trade(payload.s, payload.t, price, quantity, payload.T, payload.m)
    return check_trade(trade, earliest_ms, latest_ms, digits_checked=True)


def check_trade(
    trade: Trade,
    earliest_ms: int = EARLIEST_TIME_MS,
    latest_ms: int = LATEST_TIME_MS,
    digits_checked: bool = False,
) -> Trade:
    """``trade`` if it is one the exchange could have made at a time within ``earliest_ms``..
    ``latest_ms``: ids within 0..``MAX_TRADE_ID``, price and quantity ``sane_decimal``; else
    ``MalformedFrame`` saying what is wrong. Every trade from upstream, streamed or fetched,
    passes here before anything counts it. ``digits_checked``: the decimals' text was bounded."""
    sane = _in_range if digits_checked else sane_decimal
    if (
        0 <= trade.trade_id <= trade.trade_id + trade.count - 1 <= MAX_TRADE_ID
        and earliest_ms <= trade.time <= latest_ms
        and sane(trade.price)
        and sane(trade.quantity)
    ):
        return trade
    reason = f"bad trade {trade.symbol} {trade.trade_id}: {_trade_fault(trade, earliest_ms, latest_ms)}"
    raise MalformedFrame(reason[:_REASON_CHARS])


def time_fault(trade: Trade, earliest_ms: int, latest_ms: int) -> str | None:
    """Why ``trade`` (otherwise sound) is refused for its time, in ``check_trade``'s words; or None."""
    if earliest_ms <= trade.time <= latest_ms:
        return None
    return f"bad trade {trade.symbol} {trade.trade_id}: time {trade.time} outside {earliest_ms}..{latest_ms}"


def _trade_fault(trade: Trade, earliest_ms: int, latest_ms: int) -> str:
    if not 0 <= trade.trade_id <= trade.last_trade_id <= MAX_TRADE_ID:
        return f"trade ids {trade.trade_id}..{trade.last_trade_id} outside 0..{MAX_TRADE_ID}"
    if not earliest_ms <= trade.time <= latest_ms:
        return f"time {trade.time} outside {earliest_ms}..{latest_ms}"
    if not sane_decimal(trade.price):
        return f"price {_decimal_fault(trade.price)}"
    return f"quantity {_decimal_fault(trade.quantity)}"


def _in_range(value: Decimal) -> bool:
    """``value`` is finite, positive and of a magnitude ``sane_decimal`` allows."""
    try:
        return _SMALLEST <= value < _TOO_LARGE  # False for infinities, zero and negatives
    except InvalidOperation:  # NaN, which cannot be ordered
        return False


def sane_decimal(value: Decimal) -> bool:
    """``value`` is a price or quantity: finite, positive, its adjusted exponent within
    +-``MAX_ADJUSTED_EXPONENT`` and at most ``MAX_SIGNIFICANT_DIGITS`` digits. A string no longer
    than that bound has no more digits than it, which spares nearly every value the costlier count."""
    return _in_range(value) and (
        len(str(value)) <= MAX_SIGNIFICANT_DIGITS or len(value.as_tuple().digits) <= MAX_SIGNIFICANT_DIGITS
    )


def _decimal_fault(value: Decimal) -> str:
    if not value.is_finite():
        return "is not finite"
    if value <= _ZERO:
        return f"{str(value)[:20]} is not positive"
    if not _SMALLEST <= value < _TOO_LARGE:
        return f"magnitude 1E{value.adjusted()} is out of range"
    return f"has more than {MAX_SIGNIFICANT_DIGITS} significant digits"


class _TradeIdentity(msgspec.Struct, frozen=True):
    s: Any = None
    t: Any = None


class _LooseTradeFrame(msgspec.Struct, frozen=True):
    stream: Any = None
    data: _TradeIdentity | None = None


_loose_trade_decoder = msgspec.json.Decoder(_LooseTradeFrame)


def rejected_trade(data: bytes | str) -> tuple[str, int] | None:
    """The symbol and trade id of a frame ``parse_frame`` rejected, if it still names both
    unambiguously: a trade stream's frame whose ``t`` is an id and whose ``s``, if any, is the
    stream's symbol. Then that trade is known to be missing, not merely a bad frame."""
    try:
        frame = _loose_trade_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(frame.stream, str) or frame.data is None:
        return None
    symbol = symbol_of_stream(frame.stream)
    trade_id, named = frame.data.t, frame.data.s
    if symbol is None or not is_valid_symbol(symbol) or (named is not None and named != symbol):
        return None
    if type(trade_id) is not int or not 0 <= trade_id <= MAX_TRADE_ID:
        return None
    return symbol, trade_id


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
    """The trades of a ``historicalTrades`` answer; ``MalformedFrame`` if any row fails
    ``check_trade``: an answer holding one impossible trade is not trusted for the others."""
    rows = _decode_answer(_rest_trades_decoder, body, "historicalTrades")
    return [check_trade(Trade(symbol, r.id, r.price, r.qty, r.time, r.isBuyerMaker)) for r in rows]


def parse_agg_trades(symbol: str, body: bytes) -> list[tuple[int, Trade]]:
    """(aggregate id, the trades it stands for as one Trade with ``count``) per row; checked
    as ``parse_rest_trades`` does."""
    rows = _decode_answer(_agg_trades_decoder, body, "aggTrades")
    if any(r.l < r.f for r in rows):
        raise MalformedFrame("bad aggTrades answer: a row ends before it starts")
    if any(not 0 <= r.a <= MAX_TRADE_ID for r in rows):
        raise MalformedFrame(f"bad aggTrades answer: an aggregate id outside 0..{MAX_TRADE_ID}")
    return [(r.a, check_trade(Trade(symbol, r.f, r.p, r.q, r.T, r.m, count=r.l - r.f + 1))) for r in rows]


def _decode_answer(decoder: msgspec.json.Decoder[Any], body: bytes, name: str) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedFrame(f"bad {name} answer: {type(exc).__name__}: {exc}"[:_REASON_CHARS]) from exc
