"""What a simulator run looks like: its market, and the limits it enforces as Binance does."""

from __future__ import annotations

import dataclasses
import math

from candlecast.sim.replay import ReplaySource


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    """``symbols`` None: every TRADING symbol of the listing trades; else just these.

    ``synthetic_symbols`` lists that many extra TRADING symbols (``SYN0001USDT`` ...) for runs
    that need more streams than the real listing has. The limits default to Binance's own.

    ``kept_trades`` bounds each symbol's trade history, what REST serves. Binance keeps every
    trade; here each costs about 420 bytes, and at 100,000 a symbol a simulator left running
    grew by about 90 KB a second towards 1 GB. 5,000 is about 10 minutes of a symbol at the
    default rate, far more than a reconnecting gateway asks for, and at most about 50 MB for
    the 20 listed symbols.

    ``server_time_skew_ms`` makes ``/api/v3/time`` lie by that much while trades and streams
    keep the exchange clock (``time_offset_ms`` shifts the whole exchange instead).
    """

    host: str = "127.0.0.1"
    rest_port: int = 0
    ws_port: int = 0
    symbols: tuple[str, ...] | None = None
    seed: int = 1
    trades_per_second: float = 8.0
    ping_interval: float = 20.0
    pong_timeout_s: float = 60.0
    time_offset_ms: int = 0
    server_time_skew_ms: int = 0
    replay: ReplaySource | None = None
    synthetic_symbols: int = 0
    connection_lifetime_s: float | None = None
    max_incoming_per_second: int = 5
    max_streams_per_connection: int = 1024
    weight_limit_1m: int = 6000
    historical_trades_need_key: bool = False
    kept_trades: int = 5_000

    def __post_init__(self) -> None:
        if not all(0 < value < math.inf for value in (self.trades_per_second, self.ping_interval, self.pong_timeout_s)):
            raise ValueError("trades_per_second, ping_interval and pong_timeout_s must be positive and finite")
        if self.connection_lifetime_s is not None and not 0 < self.connection_lifetime_s < math.inf:
            raise ValueError("connection_lifetime_s must be positive and finite")
        if (
            min(self.max_incoming_per_second, self.max_streams_per_connection, self.weight_limit_1m, self.kept_trades)
            < 1
        ):
            raise ValueError("limits must be at least 1")
        if self.synthetic_symbols < 0:
            raise ValueError("synthetic_symbols must not be negative")
