"""candlecast's own JSON, for REST and WebSocket alike: candles and trades carry prices and
volumes as JSON numbers written from the exact decimal (no float round trip), plus
epoch-millisecond times and ISO-8601 UTC timestamps."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from candlecast.market_data import Candle, GapEvent, Trade

_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


@functools.lru_cache(maxsize=4096)
def _utc_second(epoch_s: int) -> str:
    """Formatted once per second: every symbol's candles of a second, and its trades, share it.
    The memo holds results of a pure function only, so threads sharing it share no state."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s))


def iso_timestamp(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


# A candle's source is its last member; the usual one, ``live``, is left out, so a live candle's
# JSON is what it was before candles had a source.
_LIVE_SOURCE_MEMBER = b',"source":"live"}'


def _candle_members(candle: Candle) -> bytes:
    """A candle's JSON members without the braces: its fields in order, then its timestamp.
    msgspec encodes the struct itself, a third of the cost of a dict per candle, which adds up
    in a /candles answer of an hour (3,600 candles) and in every replay."""
    members = _encoder.encode(candle)[1 : -len(_LIVE_SOURCE_MEMBER) if candle.source == "live" else -1]
    return b'%s,"timestamp":"%s"' % (members, iso_timestamp(candle.open_time).encode())


def candle_json(candle: Candle) -> bytes:
    return b"{%s}" % _candle_members(candle)


def candles_json(candles: Sequence[Candle]) -> list[msgspec.Raw]:
    """Candles to embed in a larger body as they are."""
    return [msgspec.Raw(candle_json(candle)) for candle in candles]


def trade_body(trade: Trade) -> dict[str, Any]:
    return {
        "symbol": trade.symbol,
        "trade_id": trade.trade_id,
        "price": trade.price,
        "qty": trade.quantity,
        "time": trade.time,
        "timestamp": iso_timestamp(trade.time),
        "buyer_is_maker": trade.buyer_is_maker,
    }


def candle_event(candle: Candle) -> str:
    return (b'{"type":"candle",%s}' % _candle_members(candle)).decode()


def trades_event(symbol: str, trades: tuple[Trade, ...]) -> str:
    return encode({"type": "trades", "symbol": symbol, "trades": [trade_body(t) for t in trades]}).decode()


def gap_event(event: GapEvent) -> str:
    """``gap``, ``recovered`` or ``unrecoverable``, with the trade ids and times it covers."""
    body = msgspec.structs.asdict(event)
    kind = body.pop("kind")
    return encode({"type": kind, **body}).decode()
