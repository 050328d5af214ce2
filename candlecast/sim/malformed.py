"""Frames a client must survive: what a broken proxy or a wire-format change could deliver.

By default they rotate through four kinds so a client meets each: text that is not JSON, a
trade event missing fields, a trade whose price is not a number, and a binary message of
garbage. Hostile kinds are asked for by name: JSON nested deeper than a recursive parser
goes, and a frame far larger than any event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

MalformedKind = Literal["invalid_json", "missing_fields", "bad_price", "binary", "nested", "oversized"]
KINDS: tuple[MalformedKind, ...] = ("invalid_json", "missing_fields", "bad_price", "binary")
HOSTILE_KINDS: tuple[MalformedKind, ...] = ("nested", "oversized")
NESTING_DEPTH = 5_000
OVERSIZED_BYTES = 2 * 1024 * 1024


def _event(stream: str, payload: dict[str, Any], combined: bool) -> str:
    return msgspec.json.encode({"stream": stream, "data": payload} if combined else payload).decode()


def malformed_frame(
    index: int, stream: str, combined: bool, event_time: int, *, kinds: Sequence[MalformedKind] = KINDS
) -> str | bytes:
    """The ``index``-th malformed frame, rotating through ``kinds``, for a connection subscribed to ``stream``."""
    symbol = stream.partition("@")[0].upper()
    kind = kinds[index % len(kinds)]
    if kind == "invalid_json":
        return _event(stream, {"e": "trade", "E": event_time}, combined)[:-7]
    if kind == "missing_fields":
        return _event(stream, {"e": "trade", "E": event_time, "s": symbol}, combined)
    if kind == "bad_price":
        payload = {
            "e": "trade",
            "E": event_time,
            "s": symbol,
            "t": 1,
            "p": "not-a-price",
            "q": "1.00000000",
            "T": event_time,
            "m": False,
            "M": True,
        }
        return _event(stream, payload, combined)
    if kind == "binary":
        return bytes([0x00, 0xFF, 0xFE, 0x7B, 0x80, 0x13, 0x37])
    if kind == "nested":
        nested = "[" * NESTING_DEPTH + "]" * NESTING_DEPTH
        return f'{{"stream":"{stream}","data":{nested}}}' if combined else nested
    if kind == "oversized":
        return _event(stream, {"e": "padding", "E": event_time, "s": symbol, "x": "x" * OVERSIZED_BYTES}, combined)
    raise ValueError(f"unknown malformed frame kind {kind!r}")
