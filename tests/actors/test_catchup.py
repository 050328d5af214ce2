"""The catch-up actor against the real simulator and a real SQLite store: the seconds after a
symbol's last stored candle up to its first live one come from klines, the newest of them rebuilt
from trades as a higher revision; seconds older than the window stay missing, logged; without a
live candle the range ends at the current second; and the progress it shows ends finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

from candlecast.actors.catchup import CatchUpActor
from candlecast.history.sqlite import SqliteStore
from candlecast.market_data import Candle, Trade
from candlecast.messages.catchup import GetCatchUpProgress
from candlecast.runtime.progress import ProgressReport
from candlecast.sim import Simulator
from tests.clients import wait_for
from tests.reference import reference_candles

SYMBOL = "BTCUSDT"
ASK_TIMEOUT_S = 2.0


@pytest.fixture
def history(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "candles.sqlite3")
    yield store
    store.close()


def trades_over(simulator: Simulator, seconds: int) -> tuple[Trade, ...]:
    """The simulator's record, once it spans ``seconds`` whole seconds past its first trade."""
    waiting = threading.Event()
    trades = simulator.trades(SYMBOL)
    while not trades or trades[-1].time // 1000 - trades[0].time // 1000 <= seconds:
        waiting.wait(0.2)
        trades = simulator.trades(SYMBOL)
    return trades


def start_catch_up(simulator: Simulator, history: SqliteStore, **options: Any) -> Any:
    settings: dict[str, Any] = {"window_s": 86_400, "trades_window_s": 3, "now_ms": lambda: int(time.time() * 1000)}
    settings.update(options)
    return CatchUpActor.start(
        history=history, symbols=(SYMBOL,), rest_url=simulator.rest_url, weight_budget=6000, **settings
    )


def finished(catch_up: Any) -> ProgressReport | None:
    report: ProgressReport | None = catch_up.ask(GetCatchUpProgress(), timeout=ASK_TIMEOUT_S)
    return report if report is not None and not report.running else None


def as_live(candle: Candle) -> Candle:
    return msgspec.structs.replace(candle, source="live", revision=0)


def test_the_seconds_before_the_first_live_candle_are_filled_and_the_newest_rebuilt_from_trades(
    simulator: Simulator, history: SqliteStore
) -> None:
    trades = trades_over(simulator, 9)
    first_s = trades[0].time // 1000 + 1
    expected = reference_candles(trades, first_s, first_s + 7)
    history.write([expected[0]])  # the last candle stored before the restart
    catch_up = start_catch_up(simulator, history)
    history.write([expected[-1]])  # the first live candle after it
    report = wait_for(lambda: finished(catch_up), timeout=20)
    catch_up.stop()
    assert (report.done, report.total) == (6 + 3, 6 + 3)
    stored = history.candles(SYMBOL, expected[0].open_time, expected[-1].open_time, 100)
    assert [c.open_time for c in stored] == [c.open_time for c in expected]
    filled = stored[1:-1]
    assert [(c.source, c.revision) for c in filled] == [("klines", 0)] * 3 + [("trades", 1)] * 3
    # Klines carry no trade ids; rebuilt from trades, every field is the exchange's own.
    for got, want in zip(filled[:3], expected[1:4], strict=True):
        assert as_live(got) == msgspec.structs.replace(want, first_trade_id=-1, last_trade_id=-1)
    assert [as_live(c) for c in filled[3:]] == expected[4:7]


def test_seconds_older_than_the_window_stay_missing_and_are_logged(simulator: Simulator, history: SqliteStore) -> None:
    trades = trades_over(simulator, 9)
    first_s = trades[0].time // 1000 + 1
    expected = reference_candles(trades, first_s, first_s + 7)
    history.write([expected[0]])
    with capture_logs() as logs:
        catch_up = start_catch_up(simulator, history, window_s=2)
        history.write([expected[-1]])
        wait_for(lambda: finished(catch_up), timeout=20)
        catch_up.stop()
    stored = history.candles(SYMBOL, expected[0].open_time, expected[-1].open_time, 100)
    assert [c.open_time // 1000 - first_s for c in stored] == [0, 5, 6, 7]
    missing = [entry for entry in logs if entry["event"] == "seconds older than the catch-up window left missing"]
    assert [(entry["symbols"], entry["seconds"]) for entry in missing] == [([SYMBOL], 4)]


def test_without_a_live_candle_the_range_ends_at_the_current_second(simulator: Simulator, history: SqliteStore) -> None:
    trades = trades_over(simulator, 4)
    last_stored = reference_candles(trades, trades[0].time // 1000 + 1, trades[0].time // 1000 + 1)[0]
    history.write([last_stored])
    now_s = trades[-1].time // 1000
    catch_up = start_catch_up(simulator, history, first_live_wait_s=0.2, now_ms=lambda: now_s * 1000 + 500)
    wait_for(lambda: finished(catch_up), timeout=20)
    catch_up.stop()
    stored = history.candles(SYMBOL, last_stored.open_time, 2**62, 100)
    assert [c.open_time // 1000 for c in stored] == list(range(last_stored.open_time // 1000, now_s))


def test_a_symbol_without_stored_history_has_nothing_to_catch_up(simulator: Simulator, history: SqliteStore) -> None:
    catch_up = start_catch_up(simulator, history)
    assert catch_up.ask(GetCatchUpProgress(), timeout=ASK_TIMEOUT_S) is None
    catch_up.stop()
    assert history.last_open_time(SYMBOL) is None
