"""A candle's source in the embedded store: each stored second keeps its own, a newer revision
replaces it with the rest of the candle, and a bar rolled up in SQL has its least exact second's,
as ``roll_up`` does."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from candlecast.candles.series import empty_candle
from candlecast.history.intervals import INTERVALS
from candlecast.history.rollup import roll_up
from candlecast.history.sqlite import SqliteStore
from candlecast.history.store import KlineQuery
from candlecast.market_data import Candle, CandleSource

SYMBOL = "BTCUSDT"
MINUTE_S = 29_930_610  # a whole minute, in seconds


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "candles.sqlite3")
    yield store
    store.close()


def second(offset: int, source: CandleSource, revision: int = 0) -> Candle:
    flat = empty_candle(SYMBOL, MINUTE_S * 60 + offset, Decimal("43012.15"))
    return msgspec.structs.replace(flat, source=source, revision=revision)


def test_each_second_keeps_its_source_and_a_newer_revision_replaces_it(sqlite_store: SqliteStore) -> None:
    written = [second(0, "live"), second(1, "klines"), second(2, "trades", revision=1)]
    sqlite_store.write(written)
    sqlite_store.write([second(1, "trades", revision=1), second(2, "klines")])
    stored = sqlite_store.candles(SYMBOL, 0, 2**62, 10)
    assert [(c.source, c.revision) for c in stored] == [("live", 0), ("trades", 1), ("trades", 1)]


@pytest.mark.parametrize(
    ("sources", "bar_source"),
    [(["live", "live"], "live"), (["live", "trades"], "trades"), (["trades", "klines", "live"], "klines")],
)
def test_a_bar_has_its_least_exact_second_s_source(
    sqlite_store: SqliteStore, sources: list[CandleSource], bar_source: CandleSource
) -> None:
    seconds = [second(offset, source) for offset, source in enumerate(sources)]
    sqlite_store.write(seconds)
    query = KlineQuery(SYMBOL, INTERVALS["1m"], 0, 2**62, 10)
    bars = sqlite_store.klines(query)
    assert bars == roll_up(seconds, INTERVALS["1m"])
    assert [bar.source for bar in bars] == [bar_source]
