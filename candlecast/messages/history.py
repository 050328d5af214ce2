"""Reads of stored candles for the actors that keep only the newest seconds in memory: an
aggregator revising an older candle, the broadcaster replaying ``since`` to a client. The
answer comes back as a message, so no actor ever waits on the disk."""

from __future__ import annotations

from typing import Any

import msgspec
import pykka

from candlecast.market_data import Candle
from candlecast.messages.base import Message


class CandleRange(msgspec.Struct, frozen=True):
    """The stored 1 s candles of ``symbol`` opening in [start_ms, end_ms]."""

    symbol: str
    start_ms: int
    end_ms: int


class ReadCandles(Message, frozen=True):
    """Read ``ranges`` in order, at most ``limit`` candles in all, and tell ``reply_to`` a
    ``CandlesRead`` with the same ``request``."""

    request: int
    ranges: tuple[CandleRange, ...]
    limit: int
    reply_to: pykka.ActorRef[Any] | None = None


class CandlesRead(Message, frozen=True):
    """The answer to ``ReadCandles`` ``request``: the candles of its ranges, each range oldest
    first; ``more`` when the ranges hold more than its limit (``candles`` stops at the limit);
    ``error`` says why the store could not be read (``candles`` is then empty)."""

    request: int
    ranges: tuple[CandleRange, ...]
    candles: tuple[Candle, ...]
    more: bool = False
    error: str = ""
