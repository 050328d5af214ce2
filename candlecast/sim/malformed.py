"""Frames a client must survive: what a broken proxy or a wire-format change could deliver.

They rotate through four kinds so a client meets each: text that is not JSON, a trade event
missing fields, a trade whose price is not a number, and a binary message of garbage.
"""

from __future__ import annotations

from typing import Any

import msgspec

KINDS = ("invalid_json", "missing_fields", "bad_price", "binary")


def _event(stream: str, payload: dict[str, Any], combined: bool) -> str:
    return msgspec.json.encode({"stream": stream, "data": payload} if combined else payload).decode()


def malformed_frame(index: int, stream: str, combined: bool, event_time: int) -> str | bytes:
    """The ``index``-th malformed frame for a connection subscribed to ``stream``."""
    symbol = stream.partition("@")[0].upper()
    kind = KINDS[index % len(KINDS)]
    if kind == "invalid_json":
        return _event(stream, {"e": "trade", "E": event_time}, combined)[:-7]
    if kind == "missing_fields":
        return _event(stream, {"e": "trade", "E": event_time, "s": symbol}, combined)
    if kind == "bad_price":
        payload = {"e": "trade", "E": event_time, "s": symbol, "t": 1, "p": "not-a-price",
                   "q": "1.00000000", "T": event_time, "m": False, "M": True}
        return _event(stream, payload, combined)
    return bytes([0x00, 0xFF, 0xFE, 0x7B, 0x80, 0x13, 0x37])
