"""The WebSocket bridge's client protocol, parsed and checked without any I/O.

Commands: {"op": "subscribe"|"unsubscribe"|"list", "symbols": [...], "channels": [...],
"since": open_time, "id": short string | integer | null}. Connect-time subscriptions:
?symbols=btcusdt,ethusdt&channels=candle,trade&since=open_time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import msgspec

from candlecast.fanout import subscriptions
from candlecast.upstream.binance import is_valid_symbol, normalize_symbol

OPS = ("subscribe", "unsubscribe", "list")
# An open time in epoch ms stays below this until the year 33658; anything larger is a mistake
# or an attack, and huge numbers cost time to convert.
SINCE_BOUND = 10**15
MAX_ID_CHARS = 64
ID_BOUND = 2**63  # ids are echoed back as 64-bit integers at most


class CommandError(ValueError):
    """A client message that cannot be carried out; the text is sent back to the client."""


class Command(msgspec.Struct, frozen=True):
    op: subscriptions.SubscriptionOp
    pairs: subscriptions.Pairs
    request_id: Any = None
    since: int | None = None


class ConnectRequest(msgspec.Struct, frozen=True):
    pairs: subscriptions.Pairs
    since: int | None = None


def _since(value: Any) -> int | None:
    """Replay closed candles from this open time (epoch ms) on; None: just the latest. A string
    counts only if it is ASCII digits: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= len(str(SINCE_BOUND)):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SINCE_BOUND:
        raise CommandError(f"'since' must be an open_time in epoch milliseconds, 0 to {SINCE_BOUND - 1}")
    return value


def _request_id(value: Any) -> str | int | None:
    """The ``id`` echoed back in replies: a short string, a 64-bit integer or null, so a reply stays small."""
    if value is None or (isinstance(value, str) and len(value) <= MAX_ID_CHARS):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -ID_BOUND <= value < ID_BOUND:
        return value
    raise CommandError(f"'id' must be a string of at most {MAX_ID_CHARS} characters, a 64-bit integer or null")


def _decode(text: str | bytes) -> Any:
    """The JSON value of a message; whatever the decoder raises (nesting past its recursion
    limit, numbers out of range, text that is not UTF-8) is the client's error."""
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError, ValueError, OverflowError) as exc:  # UnicodeError is a ValueError
        raise CommandError(f"not JSON: {exc}") from exc


def _symbols(values: Any) -> tuple[str, ...] | None:
    if values is None or values == subscriptions.ALL_SYMBOLS:
        return None
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CommandError("'symbols' must be a list of symbol strings")
    symbols = tuple(normalize_symbol(v) for v in values if v.strip())
    bad = [s for s in symbols if not is_valid_symbol(s)]
    if bad:
        raise CommandError(f"not a symbol: {', '.join(bad)}")
    if subscriptions.ALL_SYMBOLS in symbols or not symbols:
        return None
    return symbols


def _channels(values: Any) -> tuple[str, ...]:
    if values is None:
        return (subscriptions.CANDLE,)
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CommandError("'channels' must be a list of channel names")
    channels = tuple(v.strip().lower() for v in values if v.strip())
    unknown = [c for c in channels if c not in subscriptions.CHANNELS]
    if unknown or not channels:
        raise CommandError(f"channels must be among {', '.join(subscriptions.CHANNELS)}")
    return channels


def parse_command(text: str | bytes) -> Command:
    body = _decode(text)
    if not isinstance(body, dict):
        raise CommandError("a command is a JSON object")
    op = body.get("op")
    if op not in OPS:
        raise CommandError(f"'op' must be one of {', '.join(OPS)}")
    unknown = set(body) - {"op", "symbols", "channels", "since", "id"}
    if unknown:
        raise CommandError(f"unknown field(s): {', '.join(sorted(unknown))}")
    request_id = _request_id(body.get("id"))
    pairs = subscriptions.pairs(_symbols(body.get("symbols")), _channels(body.get("channels")))
    since = _since(body.get("since"))
    if since is not None and op != "subscribe":
        raise CommandError("'since' only goes with subscribe")
    return Command(op=op, pairs=pairs if op != "list" else frozenset(), request_id=request_id, since=since)


def parse_query(query_string: str) -> ConnectRequest:
    """Subscriptions requested in the connect URL; none requested means the default."""
    query = parse_qs(query_string)
    symbols = query.get("symbols")
    channels = query.get("channels")
    since = _since(query["since"][-1]) if "since" in query else None
    if symbols is None and channels is None:
        return ConnectRequest(subscriptions.DEFAULT, since)
    pairs = subscriptions.pairs(
        _symbols(",".join(symbols)) if symbols else None,
        _channels(",".join(channels) if channels else None),
    )
    return ConnectRequest(pairs, since)
