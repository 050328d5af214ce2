"""Arrivals: the trades of several reads go to the trade listeners together, in arrival order,
once the first of them has waited ``every_s``."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.upstream.arrivals import Arrivals


def trade(symbol: str, trade_id: int) -> Trade:
    return Trade(symbol, trade_id, Decimal("1"), Decimal("1"), 1_000, False)


def test_reads_go_together_once_the_first_has_waited() -> None:
    arrivals = Arrivals(every_s=0.01)
    assert arrivals.wait_s(5.0) is None and arrivals.take_due(5.0) is None
    arrivals.add([trade("A", 1), trade("B", 7)], now=5.0)
    arrivals.add([trade("A", 2)], now=5.004)
    assert abs((arrivals.wait_s(5.004) or 0.0) - 0.006) < 1e-9
    assert arrivals.take_due(5.009) is None
    told = arrivals.take_due(5.01)
    assert told is not None and [(t.symbol, t.trade_id) for t in told.trades] == [("A", 1), ("B", 7), ("A", 2)]
    assert arrivals.wait_s(5.01) is None


def test_the_wait_starts_again_with_the_next_read() -> None:
    arrivals = Arrivals(every_s=0.01)
    arrivals.add([trade("A", 1)], now=1.0)
    assert arrivals.take_due(1.5) is not None
    arrivals.add([trade("A", 2)], now=2.0)
    assert arrivals.take_due(2.005) is None
    told = arrivals.take_all()
    assert told is not None and [t.trade_id for t in told.trades] == [2]
    assert arrivals.take_all() is None
