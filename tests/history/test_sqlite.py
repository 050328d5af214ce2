"""What only the SQLite engine promises: which values its scaled columns refuse, a file that
keeps candles and symbols across a restart and a killed process, retention that gives pages
back, and close() closing every thread's connection."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import pytest

from candlecast.history.sqlite import SqliteStore
from tests.history.seconds import NEAR_NEW_YEAR_MS, second

T0 = NEAR_NEW_YEAR_MS
FAR_FUTURE_MS = 2**53
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "candles.sqlite3"


def test_more_decimals_or_whole_units_than_the_columns_hold_are_refused(path: Path) -> None:
    store = SqliteStore(path)
    holdable = [
        second(T0, prices=("0.00000001", "92233720368.54775807", "0.00000001", "1")),
        second(T0 + 1000, volume="9223372036854775807.99999999", quote_volume="9223372036854775807.9999999999999999"),
        second(T0 + 2000, volume="1.10000000000000000000", quote_volume="2.00000000000000000000"),
        second(T0 + 2500, trades=10**12, trade_ids=(2**63 - 1, 2**63 - 1), revision=2**63 - 1),
    ]
    unholdable = [
        second(T0 + 3000, prices=("100.123456789", "101", "99", "100")),
        second(T0 + 4000, prices=("1", "92233720368.54775808", "1", "1")),
        second(T0 + 5000, volume="1.000000001"),
        second(T0 + 6000, volume="9223372036854775808"),
        second(T0 + 7000, quote_volume="1.00000000000000001"),
        second(T0 + 8000, taker=("0.5", "50.00000000000000001")),
        second(T0 + 9000, taker=("1E+30", "1")),
        second(T0 + 10_000, prices=("NaN", "1", "1", "1")),
        second(T0 + 11_000, quote_volume="Infinity"),
        second(T0 + 12_000, trade_ids=(1, 2**63)),
        second(T0 + 12_500, trades=10**12 + 1),  # a month of such seconds would overflow a sum
        second(2**53 + 1000),
        msgspec.structs.replace(second(T0 + 13_000), close_time=T0 + 13_000 + 59_999),  # not a 1 s candle
    ]
    assert store.write(holdable + unholdable) == unholdable
    assert store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 20) == holdable
    store.close()


def test_candles_and_symbols_survive_a_restart(path: Path) -> None:
    store = SqliteStore(path)
    store.write([second(T0, symbol="ETHUSDT"), second(T0, symbol="BTCUSDT", revision=2)])
    store.save_symbols(["ETHUSDT", "BTCUSDT"])
    store.close()
    reopened = SqliteStore(path)
    assert reopened.symbols() == ("BTCUSDT", "ETHUSDT")
    assert reopened.newest("BTCUSDT", 5) == [second(T0, symbol="BTCUSDT", revision=2)]
    reopened.write([second(T0 + 1000, symbol="SOLUSDT")])
    assert reopened.newest("ETHUSDT", 5) == [second(T0, symbol="ETHUSDT")]
    assert reopened.newest("SOLUSDT", 5) == [second(T0 + 1000, symbol="SOLUSDT")]
    reopened.close()


def test_a_committed_write_survives_the_process_being_killed(path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from candlecast.history.sqlite import SqliteStore\n"
        "from tests.history.seconds import second\n"
        "store = SqliteStore(Path(sys.argv[1]))\n"
        f"store.write([second({T0}), second({T0 + 1000}, revision=1)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, check=False, timeout=60)
    assert done.returncode == -9
    store = SqliteStore(path)
    assert store.newest("BTCUSDT", 5) == [second(T0), second(T0 + 1000, revision=1)]
    store.close()


def test_the_minutes_table_follows_every_write_revision_and_retention(path: Path) -> None:
    store = SqliteStore(path)
    store.write([second(T0 + i * 1000, trades=i) for i in range(150)])  # minutes T0, +1 and +2, the last half full
    store.write([second(T0 + 130_000, trades=1000, revision=1), second(T0 + 131_000, trades=1000, revision=-1)])
    store.delete_before(T0 + 70_000, 1000)  # all of minute T0 and 10 s of the next
    db = sqlite3.connect(path)
    minutes = db.execute("SELECT open_time, trades, revision FROM minutes ORDER BY open_time").fetchall()
    db.close()
    assert minutes == [(T0 + 60_000, sum(range(70, 120)), 0), (T0 + 120_000, sum(range(120, 150)) - 130 + 1000, 1)]
    store.close()


def pages(path: Path) -> tuple[int, int]:
    """The file's page count and how many of them are free, read over a connection of its own."""
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        db.close()


def test_retention_gives_freed_pages_back_and_the_file_stops_growing(path: Path) -> None:
    store = SqliteStore(path)
    symbols = [f"S{i}USDT" for i in range(20)]
    minute = 60
    sizes = []
    for rounds in range(12):  # a minute of 20 symbols per round, keeping the newest three minutes
        began = T0 + rounds * minute * 1000
        for offset in range(0, minute, 10):
            store.write([second(began + (offset + s) * 1000, symbol=n) for s in range(10) for n in symbols])
        while store.delete_before(began - 2 * minute * 1000, 500):
            pass
        sizes.append(pages(path))
    assert all(free == 0 for _, free in sizes), "every freed page handed back"
    # From the fourth round on the store holds three minutes; page splits as each symbol's range
    # moves on cost a little, but without deletes every round would add a third.
    assert max(count for count, _ in sizes[3:]) <= sizes[3][0] * 1.25, sizes
    while store.delete_before(FAR_FUTURE_MS, 500):
        pass
    assert pages(path)[0] < sizes[-1][0] / 2, "an empty store shrinks"
    store.close()


def test_close_closes_the_connection_of_every_thread(path: Path) -> None:
    store = SqliteStore(path)
    store.write([second(T0)])
    readers = [threading.Thread(target=store.newest, args=("BTCUSDT", 1)) for _ in range(3)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=30)
    store.close()
    assert not path.with_name(path.name + "-wal").exists(), "the last connection closed removes the WAL"
    with pytest.raises(sqlite3.ProgrammingError):
        store.newest("BTCUSDT", 1)
