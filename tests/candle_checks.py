"""Reading candles off the WebSocket and checking them against the reference."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

from candlecast.market_data import Candle
from candlecast.sim import Simulator
from tests.reference import reference_candles

DECIMAL_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def as_candle(message: dict[str, Any]) -> Candle:
    """A candle message (numbers read as Decimal, so a float artifact shows as a mismatch)."""
    fields = {k: v for k, v in message.items() if k not in ("type", "timestamp")}
    for name in DECIMAL_FIELDS:
        fields[name] = Decimal(fields[name])
    return Candle(**fields)


def candles_of(messages: Iterable[dict[str, Any]], symbol: str) -> list[Candle]:
    return [as_candle(m) for m in messages if m["type"] == "candle" and m["symbol"] == symbol]


def final_candles(candles: list[Candle]) -> list[Candle]:
    """The newest revision of each second, in order. Revisions only count up; one superseded
    within a broadcast tick is never sent, so they may skip."""
    newest: dict[int, Candle] = {}
    for candle in candles:
        previous = newest.get(candle.open_time)
        if previous is not None:
            assert candle.revision > previous.revision, (
                f"{candle.symbol} {candle.open_time}: revision {candle.revision} after {previous}"
            )
        newest[candle.open_time] = candle
    return [newest[t] for t in sorted(newest)]


def assert_matches_reference(sim: Simulator, symbol: str, candles: list[Candle]) -> None:
    """Every second once, contiguous, complete and equal to the reference field by field."""
    assert candles, f"no candle for {symbol}"
    seconds = [c.open_time // 1000 for c in candles]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), f"{symbol}: each second exactly once"
    expected = reference_candles(sim.trades(symbol), seconds[0], seconds[-1])
    for got, want in zip(candles, expected, strict=True):
        assert got.complete, f"{symbol} second {got.open_time} is still flagged incomplete"
        assert got == msgspec.structs.replace(want, revision=got.revision), f"{symbol} {got.open_time}: {got} != {want}"
