"""The options an upstream reader under test runs with: the simulator's stream, quick
reconnects, no rotation and no reject limit, unless a test says otherwise."""

from __future__ import annotations

from typing import Any

from candlecast.clock.exchange_time import ExchangeTime
from candlecast.upstream.connect_attempts import ConnectAttempts
from candlecast.upstream.reader import ReaderOptions


def reader_options(
    stream_url: str,
    clock: Any,
    *,
    stale_after_s: float,
    reconnect_cap_s: float,
    trade_listeners: tuple[Any, ...] = (),
) -> ReaderOptions:
    return ReaderOptions(
        stream_url=stream_url,
        reconnect_cap_s=reconnect_cap_s,
        stale_after_s=stale_after_s,
        lifetime_s=None,
        connect_attempts=ConnectAttempts("1000/second"),
        grace_ms=250,
        trade_listeners=trade_listeners,
        clock=clock,
        exchange_time=ExchangeTime(),
        max_trade_ahead_ms=2000,
        max_trade_behind_ms=30000,
        max_rejects=(),
    )
