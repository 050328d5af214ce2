"""A message as the fan-out sends it: framed once and shared by every client that wants it,
with what a client's backlog needs to know to treat it (its kind, symbol and trade count)."""

from __future__ import annotations

import dataclasses
from typing import Literal

# How a client's backlog treats a frame once it is full: a candle replaces its symbol's candle
# still waiting, trades are dropped (and counted), anything else (replies, gap events) waits.
FrameKind = Literal["candle", "trade", "other"]


@dataclasses.dataclass(frozen=True, slots=True)
class Outbound:
    """One message as fanned out: its frame (uncompressed, shared by every client) and text."""

    frame: bytes
    text: str
    kind: FrameKind = "other"
    symbol: str = ""
    trades: int = 0
