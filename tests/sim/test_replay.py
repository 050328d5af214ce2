"""Replays of the recorded Binance files: pure re-timing first, then a live run."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from candlecast.market_data import Trade
from candlecast.sim import ReplaySource
from candlecast.sim.replay import move_to, symbol_from_file_name
from tests.sim.conftest import FREQTRADE_FILE, NAUTILUS_FILE, connect, receive_trades

START_MS = 1_800_000_000_000


def by_second(trades: tuple[Trade, ...]) -> list[tuple[tuple[int, str, str, bool, int], ...]]:
    """Trades grouped by their second, each as (id, price, quantity, side, millisecond)."""
    return [
        tuple((t.trade_id, str(t.price), str(t.quantity), t.buyer_is_maker, t.time % 1000) for t in group)
        for _, group in itertools.groupby(trades, key=lambda t: t.time // 1000)
    ]


@pytest.mark.parametrize(
    ("file_name", "symbol", "count", "first"),
    [
        (NAUTILUS_FILE, "BTCUSDT", 2001, (553287559, "39432.48000000", "0.00026300", True)),
        (FREQTRADE_FILE, "XRPETH", 12477, (13519807, "0.00141342", "23.00000000", True)),
    ],
)
def test_both_layouts_are_read_with_symbol_from_the_file_name(  # noqa: PLR0917 (pytest passes them by name)
    trades_dir: Path, file_name: str, symbol: str, count: int, first: tuple
) -> None:
    source = ReplaySource(trades_dir / file_name)
    assert source.symbol == symbol
    assert len(source.recorded) == count
    head = source.recorded[0]
    assert (head.trade_id, str(head.price), str(head.quantity), head.buyer_is_maker) == first
    assert {t.buyer_is_maker for t in source.recorded} == {True, False}


@pytest.mark.parametrize("file_name", [NAUTILUS_FILE, FREQTRADE_FILE])
@pytest.mark.parametrize("max_quiet_seconds", [0, 2])
def test_moved_trades_keep_every_candle_and_shorten_only_long_gaps(
    trades_dir: Path, file_name: str, max_quiet_seconds: int
) -> None:
    source = ReplaySource(trades_dir / file_name, max_quiet_seconds=max_quiet_seconds)
    moved = source.trades_from(START_MS)
    assert moved[0].time // 1000 == START_MS // 1000
    assert by_second(moved) == by_second(source.recorded)
    recorded_seconds = [t.time // 1000 for t in source.recorded]
    moved_seconds = [t.time // 1000 for t in moved]
    for (r0, r1), (m0, m1) in zip(itertools.pairwise(recorded_seconds), itertools.pairwise(moved_seconds), strict=True):
        assert m1 - m0 == min(r1 - r0, max_quiet_seconds + 1)


def test_symbol_argument_limit_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "recording.csv"
    path.write_text("trade_id,price,amount,time_ms,taker_side\n1,2.00000000,3.00000000,1000,buy\n2,2.1,1,999,sell\n")
    with pytest.raises(ValueError, match="symbol"):
        ReplaySource(path)
    with pytest.raises(ValueError, match="backwards"):
        ReplaySource(path, symbol="xrpeth")
    assert ReplaySource(path, symbol="xrpeth", limit_trades=1).recorded == (
        Trade("XRPETH", 1, Decimal("2.00000000"), Decimal("3.00000000"), 1000, False),
    )
    path.write_text("id,price\n1,2\n")
    with pytest.raises(ValueError, match="columns"):
        ReplaySource(path, symbol="BTCUSDT")
    assert symbol_from_file_name(Path("x_ethbtc_trades_2020.csv")) == "ETHBTC"


def test_move_to_needs_a_whole_second() -> None:
    with pytest.raises(ValueError):
        move_to((), START_MS + 1, 2)


@pytest.mark.parametrize(("file_name", "limit"), [(NAUTILUS_FILE, 60), (FREQTRADE_FILE, 4)])
def test_live_replay_reproduces_the_recording(make_sim, trades_dir: Path, file_name: str, limit: int) -> None:
    source = ReplaySource(trades_dir / file_name, limit_trades=limit, max_quiet_seconds=0)
    sim = make_sim(replay=source)  # every other listed symbol trades at random meanwhile
    ws = connect(f"{sim.stream_url}/stream?streams={source.symbol.lower()}@trade")
    try:
        expected = source.trades_from(sim.opens_at)
        received = [trade for trade, _ in receive_trades(ws, until=lambda t: t.trade_id == expected[-1].trade_id)]
    finally:
        ws.close()
    produced = sim.trades(source.symbol)
    assert received == list(produced) == list(expected)
    assert by_second(produced) == by_second(source.recorded)
    assert sim.trades("ETHUSDT"), "the random market runs beside the replay"
