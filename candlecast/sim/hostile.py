"""What a broken or hostile exchange sends, for clients that must neither stop nor lie.

A corrupted trade lies only on the stream: the record (and so REST) keeps the true trade, as
a feed garbled between the exchange and its client would look. Malformed REST answers stand
in for a proxy's error page, a cut connection or a wire-format change. Pure: the hub and the
REST resources apply them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec

from candlecast.history.klines import KLINES, UI_KLINES

# "<field>:<value>": price and quantity go out as the string given; symbol as given; time
# shifted by a signed amount of seconds, minutes, hours, days or (365-day) years.
TRADE_FIELDS = {"price": "p", "quantity": "q", "symbol": "s", "time": "T"}
BAD_NUMBERS = ("NaN", "Infinity", "-1.5", "0", "1e999999", "sNaN")
_SHIFT = re.compile(r"^([+-][0-9]{1,6})([smhdy])$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "y": 365 * 86_400_000}

SERVER_TIME = "/api/v3/time"
EXCHANGE_INFO = "/api/v3/exchangeInfo"
_KLINE_FAULTS = ("not_json", "cut", "short_rows", "bad_price", "numbers")
# Per path, the answer faults it knows; those ending in ":" take an argument (ms or a symbol).
ANSWER_FAULTS = {
    SERVER_TIME: ("not_json", "cut", "offset:", "no_server_time", "string", "nan"),
    EXCHANGE_INFO: ("not_json", "cut", "symbols_not_list", "break:", "without:"),
    KLINES: _KLINE_FAULTS,
    UI_KLINES: _KLINE_FAULTS,
}
_DECIMALS_AS_NUMBERS = msgspec.json.Encoder(decimal_format="number")
NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def shift_ms(text: str) -> int:
    """``+20s``, ``-60s``, ``+3y``: the shift in milliseconds."""
    match = _SHIFT.match(text)
    if match is None:
        raise ValueError(f"not a time shift: {text!r} (e.g. +20s, -60s, +3y)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def check_corruption(kind: str) -> str:
    """``kind`` if it names a corruption ``corrupt_event`` can make, else ValueError."""
    field, _, value = kind.partition(":")
    if field not in TRADE_FIELDS or not value:
        raise ValueError(f"not a trade corruption: {kind!r} (price:, quantity:, symbol: or time: and a value)")
    if field == "time":
        shift_ms(value)
    return kind


def corrupt_event(event: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of a trade event with one field replaced as ``kind`` says."""
    field, _, value = kind.partition(":")
    key = TRADE_FIELDS[field]
    return {**event, key: event[key] + shift_ms(value) if field == "time" else value}


def check_answer_fault(path: str, kind: str) -> str:
    """``kind`` if ``path``'s answers can be made so, else ValueError."""
    known = ANSWER_FAULTS.get(path, ())
    name, colon, argument = kind.partition(":")
    if name + colon not in known or bool(colon) != bool(argument):
        raise ValueError(f"{path} answers cannot be made {kind!r}; known: {', '.join(known) or 'none'}")
    if name == "offset":
        int(argument)
    return kind


def malformed_answer(body: Any, kind: str | None) -> bytes:  # noqa: PLR0911, PLR0912 (one case per fault)
    """The answer sent instead of ``body``: as is for None, else malformed as ``kind`` says."""
    name, _, argument = (kind or "").partition(":")
    true = msgspec.json.encode(body)
    match name:
        case "":
            return true
        case "not_json":
            return NOT_JSON
        case "cut":
            return true[: len(true) // 2]
        case "offset":
            return msgspec.json.encode({**body, "serverTime": body["serverTime"] + int(argument)})
        case "no_server_time":
            return msgspec.json.encode({k: v for k, v in body.items() if k != "serverTime"})
        case "string":
            return msgspec.json.encode({**body, "serverTime": str(body["serverTime"])})
        case "nan":
            return b'{"serverTime":NaN}'
        case "symbols_not_list":
            return msgspec.json.encode({**body, "symbols": {s["symbol"]: s for s in body["symbols"]}})
        case "break":
            symbols = [{**s, "status": "BREAK"} if s["symbol"] == argument else s for s in body["symbols"]]
            return msgspec.json.encode({**body, "symbols": symbols})
        case "without":
            return msgspec.json.encode({**body, "symbols": [s for s in body["symbols"] if s["symbol"] != argument]})
        case "short_rows":
            return msgspec.json.encode([row[:-1] for row in body])
        case "bad_price":
            return msgspec.json.encode([[row[0], "not-a-price", *row[2:]] for row in body])
        case "numbers":
            return _DECIMALS_AS_NUMBERS.encode([[Decimal(v) if isinstance(v, str) else v for v in row] for row in body])
    raise ValueError(f"unknown answer fault {kind!r}")
