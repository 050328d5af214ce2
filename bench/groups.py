"""The broadcaster's own work with many differently subscribed clients: the CPU one second of
candles costs it, by number of subscription groups.

    python -m bench.groups [--symbols 1000] [--clients 10000] [--per-client 10] [--groups 1,100,1000,10000]
                           [--linger-ms 100]

Clients with the same subscriptions form one group and receive the same bytes; a deployment
whose every dashboard watches its own list of symbols has about as many groups as clients. The
broadcaster's handlers run on this thread (``handle``, as its actor's loop calls them) with its
writers replaced by a sink that counts what they are told, so the figure is the broadcaster's
alone: for each step, ``--clients`` clients connect, spread over ``--groups`` distinct sets of
``--per-client`` symbols' candles, then the candles of one second of every symbol arrive over
its 10 ms ticks (a twentieth of the symbols per tick, the rest of the second empty) with the
candle linger of ``--linger-ms`` (the server's default), and the process's CPU for that
second is printed, with the frames and publishes the writers were told. Each step is repeated
``--repeat`` times (median shown).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal
from typing import Any

from candlecast.actors.broadcaster import TICK_S, BroadcasterActor, ClientLimits
from candlecast.fanout import subscriptions
from candlecast.messages import BroadcastTick, Candle, ClientConnected, Publish, SymbolActivated
from candlecast.settings import Settings

TICKS_PER_SECOND = round(1 / TICK_S)
CLOSING_TICKS = 20  # a second's candles close over its first 200 ms
PRICE = Decimal("43012.90")
IDLE_TICKER_S = 3600.0  # the broadcaster's own ticker, started as in the daemon, never fires here


class CountingSink:
    """A writer as the broadcaster sees it: told publishes and client messages."""

    def __init__(self) -> None:
        self.publishes = 0
        self.frames = 0

    def tell(self, message: Any) -> None:
        if isinstance(message, Publish):
            self.publishes += 1
            self.frames += sum(len(batch) for _, batch, _ in message.groups)

    def stop(self) -> None:
        """Stopped with the broadcaster: nothing to let go of."""


class SteppedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def candle(symbol: str, second: int) -> Candle:
    return Candle(
        symbol=symbol,
        open_time=second * 1000,
        close_time=second * 1000 + 999,
        open=PRICE,
        high=PRICE,
        low=PRICE,
        close=PRICE,
        volume=Decimal("0.001"),
        quote_volume=Decimal("43.0129"),
        trades=1,
        taker_buy_volume=Decimal("0"),
        taker_buy_quote_volume=Decimal("0"),
        first_trade_id=second,
        last_trade_id=second,
    )


def one_second(
    symbols: list[str], *, clients: int, per_client: int, groups: int, linger_ms: int, seed: int
) -> tuple[float, int, int]:
    """(CPU seconds, frames told to writers, publishes) for one second of every symbol's candles."""
    clock = SteppedClock()
    limits = ClientLimits(clients, clients, per_client, 1 << 20, 10.0)
    sink = CountingSink()
    # No writer threads, and no ticks but the bench's own: the broadcaster's work alone.
    broadcaster = BroadcasterActor(
        limits,
        candle_linger_s=linger_ms / 1000,
        writers=1,
        clock=clock,
        start_writer=lambda index, _: sink,
        tick_s=IDLE_TICKER_S,
    )
    broadcaster.on_start()
    rnd = random.Random(seed)
    watchlists = [sorted(rnd.sample(symbols, per_client)) for _ in range(groups)]
    for client_id in range(clients):
        pairs = subscriptions.pairs(watchlists[client_id % groups], [subscriptions.CANDLE])
        broadcaster.handle(ClientConnected(client_id, None, f"10.0.{client_id // 250}.{client_id % 250}", pairs))
    second, per_tick = 100, -(-len(symbols) // CLOSING_TICKS)
    for earlier in symbols:
        broadcaster.handle(SymbolActivated(earlier))
        broadcaster.handle(candle(earlier, second - 1))  # every symbol has a last candle, as when live
    broadcaster.handle(BroadcastTick())
    sink.frames = sink.publishes = 0
    started = time.process_time()
    for tick in range(TICKS_PER_SECOND):
        clock.now += TICK_S
        for symbol in symbols[tick * per_tick : (tick + 1) * per_tick]:
            broadcaster.handle(candle(symbol, second))
        broadcaster.handle(BroadcastTick())
    cpu = time.process_time() - started
    broadcaster.on_stop()
    return cpu, sink.frames, sink.publishes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--per-client", type=int, default=10, help="symbols each client watches")
    parser.add_argument("--groups", default="1,100,1000,10000", help="distinct watchlists, comma separated")
    parser.add_argument("--linger-ms", type=int, default=Settings().ws_candle_linger_ms, help="the candle linger")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    symbols = [f"SYN{n:04d}USDT" for n in range(args.symbols)]
    print(
        f"{args.symbols:,} symbols, {args.clients:,} clients watching {args.per_client} each, "
        f"candle linger {args.linger_ms} ms"
    )
    print(f"{'groups':>8} {'CPU per second of candles':>26} {'frames to writers':>18} {'publishes':>10}")
    for groups in (int(g) for g in args.groups.split(",")):
        runs = [
            one_second(
                symbols,
                clients=args.clients,
                per_client=args.per_client,
                groups=groups,
                linger_ms=args.linger_ms,
                seed=seed,
            )
            for seed in range(args.repeat)
        ]
        cpu = statistics.median(run[0] for run in runs)
        print(f"{groups:>8,} {cpu * 1000:>23.0f} ms {runs[0][1]:>18,} {runs[0][2]:>10,}", flush=True)


if __name__ == "__main__":
    main()
