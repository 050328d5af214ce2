"""When a second closes: once exchange time has passed its end plus the grace period.

The one rule every part of second closing counts by: the clock's timer, to know which second
is due (in the current exchange time), and each upstream reader, to know which second it has not yet
read past (in the exchange time of the newest trade it read). docs/seconds.md follows a
second from its first trade to its candle's last revision.
"""

from __future__ import annotations


def closes_at_ms(second: int, grace_ms: int) -> int:
    """The exchange time (epoch milliseconds) at which ``second`` closes: its end plus grace."""
    return (second + 1) * 1000 + grace_ms


def closed_through(exchange_ms: int, grace_ms: int) -> int:
    """The newest second closed at exchange time ``exchange_ms``: every one up to it has closed."""
    return (exchange_ms - grace_ms) // 1000 - 1
