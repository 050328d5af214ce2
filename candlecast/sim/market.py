"""The random market: one symbol's seeded trade stream, generated a second at a time.

Pure and deterministic, so tests check patterns without threads and compare a run with its
reference. Seconds are dealt from a shuffled deck of ten: every ten hold two quiet seconds, a
burst and an edge second (trades on its first and last millisecond); the rest are Poisson.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.sim.listing import SymbolSpec

QUIET, NORMAL, BURST, EDGES = "quiet", "normal", "burst", "edges"
DECK = (QUIET, QUIET, BURST, EDGES, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL)
BURST_FACTOR = (4.0, 8.0)
BURST_CROWDS = (1, 3)
EDGE_CHANCE = 0.2
# Standard deviation of a price step between crowds, as a fraction of the price.
VOLATILITY = 0.0002
SWEEP_TICK_CHANCE = 0.3
TYPICAL_NOTIONAL = Decimal(250)
FIRST_ID_RANGE = (10**8, 4 * 10**9)


def poisson(rng: random.Random, mean: float) -> int:
    """Arrivals within one unit of time at rate ``mean``."""
    count = 0
    elapsed = rng.expovariate(mean)
    while elapsed < 1.0:
        count += 1
        elapsed += rng.expovariate(mean)
    return count


class RandomWalk:
    """One symbol's market; ``second`` must be called for consecutive seconds."""

    def __init__(self, spec: SymbolSpec, seed: int, trades_per_second: float) -> None:
        if trades_per_second <= 0:
            raise ValueError("trades_per_second must be positive")
        self._spec = spec
        self._rate = trades_per_second
        self._rng = random.Random(f"{seed}/{spec.symbol}")
        self._ticks = max(1, int(spec.start_price / spec.tick_size))
        self._typical_steps = max(1.0, float(TYPICAL_NOTIONAL / spec.start_price / spec.step_size))
        self._next_id = self._rng.randrange(*FIRST_ID_RANGE)
        self._deck: list[str] = []

    def second(self, start_ms: int) -> list[Trade]:
        """The trades of the second beginning at ``start_ms``, in id (and time) order."""
        trades: list[Trade] = []
        for offset, crowd in itertools.groupby(self._offsets()):
            self._ticks = max(1, self._ticks + round(self._rng.gauss(0, self._sigma_ticks())))
            trades.extend(self._sweep(start_ms + offset, sum(1 for _ in crowd)))
        return trades

    def _sigma_ticks(self) -> float:
        return max(1.0, self._ticks * VOLATILITY)

    def _pattern(self) -> str:
        if not self._deck:
            self._deck = list(DECK)
            self._rng.shuffle(self._deck)
        return self._deck.pop()

    def _offsets(self) -> list[int]:
        """Sorted millisecond offsets of this second's trades; equal offsets form a crowd."""
        rng = self._rng
        pattern = self._pattern()
        if pattern == QUIET:
            return []
        if pattern == BURST:
            crowds = [rng.randrange(1000) for _ in range(rng.randint(*BURST_CROWDS))]
            count = poisson(rng, self._rate * rng.uniform(*BURST_FACTOR))
            offsets = sorted(rng.choice(crowds) for _ in range(count))
        else:
            count = poisson(rng, self._rate)
            offsets = sorted(rng.randrange(1000) for _ in range(max(count, 2) if pattern == EDGES else count))
        if offsets and (pattern == EDGES or rng.random() < EDGE_CHANCE):
            offsets[0] = 0
        if offsets and (pattern == EDGES or rng.random() < EDGE_CHANCE):
            offsets[-1] = 999
        return offsets

    def _sweep(self, time_ms: int, count: int) -> list[Trade]:
        """``count`` trades in one millisecond by one taker: same side, price walking away."""
        rng = self._rng
        buyer_is_maker = rng.random() < 0.5
        direction = -1 if buyer_is_maker else 1
        trades = []
        for index in range(count):
            if index and rng.random() < SWEEP_TICK_CHANCE:
                self._ticks = max(1, self._ticks + direction)
            steps = max(1, round(rng.lognormvariate(0.0, 1.0) * self._typical_steps))
            trades.append(
                Trade(
                    symbol=self._spec.symbol,
                    trade_id=self._next_id,
                    price=self._spec.tick_size * self._ticks,
                    quantity=self._spec.step_size * steps,
                    time=time_ms,
                    buyer_is_maker=buyer_is_maker,
                )
            )
            self._next_id += 1
        return trades


def random_trades(spec: SymbolSpec, seed: int, trades_per_second: float, start_ms: int) -> Iterator[Trade]:
    """The endless trade stream of ``spec`` from the second starting at ``start_ms``."""
    walk = RandomWalk(spec, seed, trades_per_second)
    seconds = itertools.count(start_ms, 1000)
    return itertools.chain.from_iterable(walk.second(second) for second in seconds)
