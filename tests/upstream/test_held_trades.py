"""HeldTrades: a symbol's trades wait for their second to be done, unless a batch fills or has
waited long enough first; a trade of a newer second goes at once."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.upstream.held_trades import HeldTrades


def trade(symbol: str, trade_id: int, time_ms: int) -> Trade:
    return Trade(symbol, trade_id, Decimal("1"), Decimal("1"), time_ms, False)


def ids(batch: object) -> list[int]:
    return [t.trade_id for t in batch.trades]  # type: ignore[attr-defined]


def test_a_trade_of_a_later_second_sends_the_held_ones_with_it() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    held.add((trade("A", 1, 5_100),), now=10.0)
    held.add((trade("A", 2, 5_900),), now=10.8)
    assert held.take_due(10.8) == []
    held.add((trade("A", 3, 6_010),), now=10.9)
    [batch] = held.take_due(10.9)
    assert batch.symbol == "A" and ids(batch) == [1, 2, 3]
    assert held.wait_s(10.9) is None


def test_a_quiet_symbol_goes_out_when_its_second_has_ended_plus_settle() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    # 400 ms into its second when it happened: that second ends at most 0.6 s after it is read.
    held.add((trade("Q", 7, 3_400),), now=50.0)
    assert abs((held.wait_s(50.0) or 0.0) - 0.62) < 1e-9
    held.add((trade("Q", 8, 3_999),), now=50.5)
    assert held.take_due(50.5) == [] and held.take_due(50.619) == []
    [batch] = held.take_due(50.621)
    assert ids(batch) == [7, 8] and held.wait_s(50.621) is None


def test_a_full_batch_goes_out_at_once_and_each_symbol_keeps_its_own_deadline() -> None:
    held = HeldTrades(settle_s=0.0, full_batch=3, max_hold_s=1.0)
    for trade_id in (1, 2, 3):
        held.add((trade("BUSY", trade_id, 1_000),), now=0.0)
    held.add((trade("LATE", 1, 1_900),), now=0.0)  # its second ends 0.1 s after it is read
    [busy] = held.take_due(0.0)
    assert busy.symbol == "BUSY" and ids(busy) == [1, 2, 3]
    assert abs((held.wait_s(0.0) or 0.0) - 0.1) < 1e-9
    held.add((trade("EARLY", 1, 2_500),), now=0.05)  # ends 0.5 s later: not due with LATE
    assert [b.symbol for b in held.take_due(0.1)] == ["LATE"]
    assert abs((held.wait_s(0.1) or 0.0) - 0.45) < 1e-9
    assert [b.symbol for b in held.take_due(0.551)] == ["EARLY"]


def test_take_all_empties_it_in_first_held_order() -> None:
    held = HeldTrades(settle_s=1.0, full_batch=100, max_hold_s=2.0)
    for symbol, trade_id in (("B", 1), ("A", 1), ("B", 2)):
        held.add((trade(symbol, trade_id, 1_000),), now=0.0)
    batches = held.take_all()
    assert [(b.symbol, len(b.trades)) for b in batches] == [("B", 2), ("A", 1)]
    assert held.take_all() == [] and held.wait_s(0.0) is None


def test_a_newer_second_goes_at_once_even_after_the_older_one_went() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    held.add((trade("A", 1, 5_900),), now=10.0)
    [older] = held.take_due(10.12)  # second 5 ended (plus settle) with nothing newer read
    assert ids(older) == [1]
    held.add((trade("A", 2, 6_050),), now=10.15)
    [newer] = held.take_due(10.15)
    assert ids(newer) == [2], "it closes second 5's candle; it must not wait for second 6 to end"
    held.add((trade("A", 3, 6_060),), now=10.16)
    assert held.take_due(10.16) == [], "the rest of second 6 waits as usual"


def test_a_batch_waits_at_most_max_hold_s() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=0.1)
    held.add((trade("S", 1, 7_000),), now=1.0)  # its second ends 1.02 s later
    held.add((trade("S", 2, 7_040),), now=1.04)
    assert abs((held.wait_s(1.04) or 0.0) - 0.06) < 1e-9
    assert held.take_due(1.099) == []
    [batch] = held.take_due(1.1)
    assert ids(batch) == [1, 2]


def test_one_read_of_several_symbols_and_seconds() -> None:
    """A read brings trades of many symbols; the newer second of one makes only that one ready."""
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    held.add((trade("A", 1, 5_100), trade("B", 1, 5_200), trade("A", 2, 5_300)), now=10.0)
    assert held.take_due(10.0) == []
    held.add((trade("B", 2, 5_400), trade("A", 3, 6_000), trade("A", 4, 6_001)), now=10.5)
    [batch] = held.take_due(10.5)
    assert batch.symbol == "A" and ids(batch) == [1, 2, 3, 4]
    [rest] = held.take_all()
    assert rest.symbol == "B" and ids(rest) == [1, 2]


def test_before_the_clock_hears_a_second_may_close_its_held_trades_go() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    held.add((trade("A", 1, 5_100), trade("B", 1, 5_200), trade("C", 1, 6_100)), now=10.0)
    held.add((trade("A", 2, 5_900),), now=10.0)
    assert [(b.symbol, ids(b)) for b in held.take_before(6)] == [("A", [1, 2]), ("B", [1])]
    assert held.take_before(6) == [] and held.take_due(10.0) == []
    [batch] = held.take_all()
    assert batch.symbol == "C"


def test_a_symbol_taken_early_is_not_taken_again_when_its_read_is_done() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=2, max_hold_s=1.0)
    held.add((trade("A", 1, 5_100), trade("A", 2, 5_200)), now=10.0)  # full: ready after this read
    assert [ids(b) for b in held.take_before(6)] == [[1, 2]]
    assert held.take_due(10.0) == [] and held.wait_s(10.0) is None


def test_one_symbol_can_be_taken_early_and_the_others_stay_due_as_before() -> None:
    held = HeldTrades(settle_s=0.02, full_batch=100, max_hold_s=1.0)
    held.add((trade("A", 1, 5_100), trade("B", 9, 5_500)), now=10.0)
    [batch] = held.take("A")
    assert batch.symbol == "A" and ids(batch) == [1] and held.take("A") == []
    assert abs((held.wait_s(10.0) or 0.0) - 0.52) < 1e-9
    [rest] = held.take_due(10.53)
    assert rest.symbol == "B" and held.wait_s(10.53) is None
