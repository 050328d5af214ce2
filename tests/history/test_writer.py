"""The history writer against a real SQLite file: candles reach the disk in batches at their
newest revision; a full queue drops and counts; a locked database makes writes fail, counted
and retried, and nothing queued is lost once it frees; retention deletes in small batches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from candlecast.candles.series import empty_candle
from candlecast.history import writer as writer_module
from candlecast.history.sqlite import SqliteStore
from candlecast.history.writer import HistoryWriter, WriteQueue
from candlecast.market_data import Candle
from tests.clients import wait_for

SYMBOL = "BTCUSDT"
SECOND = 1_795_836_600
FLUSH_S = 0.02


def flat(second: int, price: str = "43012.15", revision: int = 0) -> Candle:
    return msgspec.structs.replace(empty_candle(SYMBOL, second, Decimal(price)), revision=revision)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    candle_store = SqliteStore(tmp_path / "candles.sqlite3")
    yield candle_store
    candle_store.close()


def start_writer(
    store: SqliteStore, pending: WriteQueue, retention_ms: int = 0, now_s: float = SECOND
) -> HistoryWriter:
    writer = HistoryWriter(store, pending, flush_interval_s=FLUSH_S, retention_ms=retention_ms, wall_s=lambda: now_s)
    writer.start()
    return writer


def stored(store: SqliteStore) -> list[Candle]:
    return store.candles(SYMBOL, 0, 2**62, 100_000)


def test_offered_candles_reach_the_disk_at_their_newest_revision(store: SqliteStore) -> None:
    pending = WriteQueue(limit=1000)
    writer = start_writer(store, pending)
    try:
        for second in range(SECOND, SECOND + 10):
            pending.offer(flat(second))
        pending.offer(flat(SECOND + 3, "43013", revision=1))
        pending.offer(flat(SECOND + 4, "43014", revision=2))
        pending.offer(flat(SECOND + 4, "43000", revision=1))  # older than the one before: not kept
        candles = wait_for(lambda: (c := stored(store)) and len(c) == 10 and c[4].revision == 2 and c)
    finally:
        writer.stop()
    assert [c.open_time // 1000 for c in candles] == list(range(SECOND, SECOND + 10))
    assert (candles[3].close, candles[3].revision) == (Decimal("43013"), 1)
    assert (candles[4].close, candles[4].revision) == (Decimal("43014"), 2)
    stats = pending.stats("sqlite")
    assert (stats.written, stats.queued, stats.dropped, stats.refused, stats.failing) == (13, 0, 0, 0, "")
    assert stats.batches >= 1 and stats.lag_ms == 0


def test_stopping_writes_what_is_queued(store: SqliteStore) -> None:
    pending = WriteQueue(limit=1000)
    writer = HistoryWriter(store, pending, flush_interval_s=60, retention_ms=0)
    writer.start()
    for second in range(SECOND, SECOND + 5):
        pending.offer(flat(second))
    writer.stop()
    assert len(stored(store)) == 5


def test_a_full_queue_drops_and_counts(store: SqliteStore) -> None:
    pending = WriteQueue(limit=3)
    for second in range(SECOND, SECOND + 5):
        pending.offer(flat(second))
    stats = pending.stats("sqlite")
    assert (stats.queued, stats.dropped) == (3, 2)
    writer = start_writer(store, pending)
    try:
        wait_for(lambda: len(stored(store)) == 3)
    finally:
        writer.stop()


def test_a_locked_database_fails_writes_retried_until_it_frees(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "RETRY_CAP_S", 0.05)
    store.save_symbols([SYMBOL])  # the file and its tables exist before another process locks it
    locker = sqlite3.connect(tmp_path / "candles.sqlite3", isolation_level=None, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    pending = WriteQueue(limit=1000)
    writer = start_writer(store, pending)
    try:
        for second in range(SECOND, SECOND + 5):
            pending.offer(flat(second))
        failing = wait_for(lambda: pending.stats("sqlite").failing, timeout=30)  # after SQLite's busy timeout
        assert "locked" in failing
        assert pending.stats("sqlite").written == 0
        locker.execute("ROLLBACK")
        wait_for(lambda: len(stored(store)) == 5)
        wait_for(lambda: not pending.stats("sqlite").failing)
    finally:
        locker.close()
        writer.stop()
    assert pending.stats("sqlite").written == 5


def test_the_symbol_set_is_saved_when_it_changes(store: SqliteStore) -> None:
    pending = WriteQueue(limit=10)
    writer = start_writer(store, pending)
    try:
        pending.symbols = ("BTCUSDT", "ETHUSDT")
        wait_for(lambda: store.symbols() == ("BTCUSDT", "ETHUSDT"))
        pending.symbols = ("ETHUSDT",)
        wait_for(lambda: store.symbols() == ("ETHUSDT",))
    finally:
        writer.stop()


def test_retention_deletes_older_candles_in_batches(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETENTION_BATCH", 7)
    store.write([flat(second) for second in range(SECOND, SECOND + 100)])
    pending = WriteQueue(limit=10)
    # Now is 100 s after the first candle; keeping 30 s leaves the seconds from SECOND + 70 on.
    writer = start_writer(store, pending, retention_ms=30_000, now_s=SECOND + 100)
    try:
        report = wait_for(lambda: (r := pending.retention) is not None and not r.running and r)
    finally:
        writer.stop()
    assert report.done == 70
    assert [c.open_time // 1000 for c in stored(store)] == list(range(SECOND + 70, SECOND + 100))
