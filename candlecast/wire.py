"""candlecast's own JSON, for REST and WebSocket alike: candles and trades carry prices and
volumes as JSON numbers written from the exact decimal (no float round trip), plus
epoch-millisecond times and ISO-8601 UTC timestamps."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec

from candlecast.messages import Candle, GapEvent, Trade

_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def iso_timestamp(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def candle_body(candle: Candle) -> dict[str, Any]:
    body = msgspec.structs.asdict(candle)
    body["timestamp"] = iso_timestamp(candle.open_time)
    return body


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
    return encode({"type": "candle", **candle_body(candle)}).decode()


def trades_event(symbol: str, trades: tuple[Trade, ...]) -> str:
    return encode({"type": "trades", "symbol": symbol, "trades": [trade_body(t) for t in trades]}).decode()


def gap_event(event: GapEvent) -> str:
    """``gap``, ``recovered`` or ``unrecoverable``, with the trade ids and times it covers."""
    body = msgspec.structs.asdict(event)
    kind = body.pop("kind")
    return encode({"type": kind, **body}).decode()
