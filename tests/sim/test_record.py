"""The exchange's trade history: REST slices and aggregate trades, without threads."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.sim.record import TradeRecord


def trade(trade_id: int, price: str, time: int, maker: bool, *, qty: str = "1.00000000") -> Trade:
    return Trade("BTCUSDT", trade_id, Decimal(price), Decimal(qty), time, maker)


TRADES = [
    trade(100, "10.00000000", 1000, True, qty="0.50000000"),
    trade(101, "10.00000000", 1000, True, qty="0.25000000"),  # same price, side, time: one aggregate
    trade(102, "10.00000000", 1000, False),  # other side
    trade(103, "10.01000000", 1000, False),  # other price
    trade(104, "10.01000000", 1001, False),  # other time
    trade(105, "10.01000000", 2000, False),
]


def filled(limit: int = 1000) -> TradeRecord:
    record = TradeRecord(limit)
    for t in TRADES:
        record.append(t)
    return record


def test_recent_and_from_id_are_binance_rows() -> None:
    record = filled()
    assert [row["id"] for row in record.recent(2)] == [104, 105]
    assert [row["id"] for row in record.from_id(102, 2)] == [102, 103]
    assert record.from_id(999, 5) == []
    assert record.recent(1)[0] == {
        "id": 105,
        "price": "10.01000000",
        "qty": "1.00000000",
        "quoteQty": "10.01000000",
        "time": 2000,
        "isBuyerMaker": False,
        "isBestMatch": True,
    }


def test_aggregates_group_same_price_side_and_time() -> None:
    rows = filled().aggregates(limit=10)
    assert [(r["f"], r["l"]) for r in rows] == [(100, 101), (102, 102), (103, 103), (104, 104), (105, 105)]
    first = rows[0]
    assert first == {
        "a": first["a"],
        "p": "10.00000000",
        "q": "0.75000000",
        "f": 100,
        "l": 101,
        "T": 1000,
        "m": True,
        "M": True,
    }
    assert [r["a"] for r in rows] == list(range(first["a"], first["a"] + 5))


def test_aggregates_by_id_and_time_window() -> None:
    record = filled()
    first_agg = record.aggregates(limit=1, start_time=0)[0]["a"]
    assert [r["f"] for r in record.aggregates(limit=2, from_id=first_agg + 1)] == [102, 103]
    assert [r["f"] for r in record.aggregates(limit=10, start_time=1001, end_time=2000)] == [104, 105]
    assert [r["f"] for r in record.aggregates(limit=10, end_time=1000)] == [100, 102, 103]
    assert [r["f"] for r in record.aggregates(limit=1)] == [105]


def test_oldest_trades_are_forgotten_past_the_limit() -> None:
    record = TradeRecord(limit=4)
    for index in range(20):
        record.append(trade(index, "1.00000000", index, index % 2 == 0))
    kept = record.all()
    assert 4 <= len(kept) <= 5 and kept[-1].trade_id == 19
    assert [r["f"] for r in record.aggregates(limit=10)] == [t.trade_id for t in kept]
