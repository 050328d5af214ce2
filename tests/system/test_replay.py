"""Real recorded Binance trades, replayed by the simulator through the full pipeline."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from candlecast.sim import ReplaySource
from candlecast.system import start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient
from tests.conftest import make_simulator, settings_for, shared_data


def recorded_id_groups(path: Path, limit: int) -> list[tuple[int, int]]:
    """(first id, last id) of every recorded second with trades, straight from the file."""
    by_second: dict[int, list[int]] = defaultdict(list)
    with path.open() as rows:
        for index, row in enumerate(csv.DictReader(rows)):
            if index >= limit:
                break
            by_second[int(row["time_ms"]) // 1000].append(int(row["trade_id"]))
    return [(ids[0], ids[-1]) for _, ids in sorted(by_second.items())]


@pytest.mark.parametrize(
    ("file_name", "symbol", "limit"),
    [
        ("nautilus_btcusdt_trades_2021-01-08.csv", "BTCUSDT", 600),  # ~14 busy seconds
        ("freqtrade_XRPETH_trades_2019-10-11_13.csv", "XRPETH", 9),  # sparse: quiet seconds between trades
    ],
)
def test_recorded_trades_give_reference_candles(file_name: str, symbol: str, limit: int) -> None:
    path = shared_data(f"trades/{file_name}")
    sim = make_simulator(replay=ReplaySource(path, symbol=symbol, limit_trades=limit))
    sim.start()
    running = start_system(settings_for(sim, symbols=(symbol,)))
    client = WsClient(running.ws_url)
    last_id = recorded_id_groups(path, limit)[-1][1]
    try:
        messages = []
        while not any(m["type"] == "candle" and m["last_trade_id"] == last_id for m in messages):
            messages.append(client.next(timeout=40))
        messages += client.collect(1.5)
        candles = final_candles(candles_of(messages, symbol))
        assert_matches_reference(sim, symbol, candles)
    finally:
        client.close()
        running.stop()
        sim.stop()
    published_groups = [(c.first_trade_id, c.last_trade_id) for c in candles if c.trades]
    recorded = recorded_id_groups(path, limit)
    assert len(published_groups) >= 4
    assert published_groups == recorded[recorded.index(published_groups[0]) :][: len(published_groups)], (
        "each published candle holds exactly the trades the recording has in that second"
    )
