"""HeldTrades: busy symbols go out after each read, quiet ones once the oldest trade is due."""

from __future__ import annotations

from decimal import Decimal

from candlecast.actors.held_trades import HeldTrades
from candlecast.messages import Trade


def trade(symbol: str, trade_id: int) -> Trade:
    return Trade(symbol, trade_id, Decimal("1"), Decimal("1"), 1_000, False)


def test_a_full_batch_goes_out_at_once_and_a_quiet_symbol_waits_its_turn() -> None:
    held = HeldTrades(max_hold_s=0.05, full_batch=3)
    assert held.wait_s(10.0) is None and held.take_due(10.0) == []
    for trade_id in (1, 2, 3):
        held.add(trade("BUSY", trade_id))
    held.add(trade("QUIET", 7))
    [busy] = held.take_due(10.0)
    assert busy.symbol == "BUSY" and [t.trade_id for t in busy.trades] == [1, 2, 3]
    assert abs((held.wait_s(10.02) or 0.0) - 0.03) < 1e-9
    held.add(trade("QUIET", 8))
    assert held.take_due(10.04) == []
    [quiet] = held.take_due(10.05)
    assert quiet.symbol == "QUIET" and [t.trade_id for t in quiet.trades] == [7, 8]
    assert held.wait_s(10.05) is None


def test_the_hold_starts_with_the_first_read_that_holds_something() -> None:
    held = HeldTrades(max_hold_s=0.05, full_batch=100)
    held.add(trade("A", 1))
    assert held.take_due(20.0) == []
    held.add(trade("B", 1))
    assert held.take_due(20.049) == []
    assert [b.symbol for b in held.take_due(20.05)] == ["A", "B"]


def test_take_all_empties_it_in_first_held_order() -> None:
    held = HeldTrades(max_hold_s=1.0, full_batch=100)
    for symbol, trade_id in (("B", 1), ("A", 1), ("B", 2)):
        held.add(trade(symbol, trade_id))
    batches = held.take_all()
    assert [(b.symbol, len(b.trades)) for b in batches] == [("B", 2), ("A", 1)]
    assert held.take_all() == [] and held.wait_s(0.0) is None
