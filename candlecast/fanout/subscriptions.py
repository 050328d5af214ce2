"""What a WebSocket client is subscribed to: a set of (symbol, channel) pairs, where the
symbol ``*`` means every symbol. Pure, shared by the bridge (parsing) and the broadcaster."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

ALL_SYMBOLS = "*"
Channel = Literal["candle", "trade"]
CANDLE: Final = "candle"
TRADE: Final = "trade"
CHANNELS: tuple[Channel, ...] = (CANDLE, TRADE)

# What a client's command asks: add pairs, remove pairs, or only hear what it has.
SubscriptionOp = Literal["subscribe", "unsubscribe", "list"]

Pairs = frozenset[tuple[str, str]]

# A client that never subscribes gets every candle: the behaviour existing clients rely on.
DEFAULT: Pairs = frozenset({(ALL_SYMBOLS, CANDLE)})


def pairs(symbols: Iterable[str] | None, channels: Iterable[str]) -> Pairs:
    chosen = tuple(symbols) if symbols else (ALL_SYMBOLS,)
    return frozenset((symbol, channel) for symbol in chosen for channel in channels)


def describe(subscriptions: Pairs) -> dict[str, list[str]]:
    """{"candle": [...symbols], "trade": [...]} for acknowledgements."""
    return {channel: sorted(s for s, c in subscriptions if c == channel) for channel in CHANNELS}
