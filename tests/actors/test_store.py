"""The store actor as REST reads it: the latest candle's body, published to ``Latest``
and answered when asked, follows every new candle and every revision of the latest; and as the
history reads it: every candle and the active symbol set reach the disk, also after a stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from candlecast.actors.store import StoreActor
from candlecast.candles.series import empty_candle
from candlecast.errors import NoDataYet, NotSubscribed
from candlecast.history.sqlite import SqliteStore
from candlecast.messages.store import Barrier, GetLatestCandle
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.store.latest import Latest

SYMBOL = "BTCUSDT"
ASK_TIMEOUT_S = 2.0


@pytest.fixture
def published() -> Latest:
    return Latest()


def start_store(published: Latest, data_dir: Path) -> Any:
    return StoreActor.start(
        latest=published,
        history=SqliteStore(data_dir / "candles.sqlite3"),
        engine="sqlite",
        queue_limit=1000,
        flush_interval_s=0.02,
        retention_ms=0,
    )


@pytest.fixture
def store(published: Latest, tmp_path: Path) -> Iterator[Any]:
    ref = start_store(published, tmp_path)
    ref.tell(SymbolActivated(symbol=SYMBOL))
    yield ref
    ref.stop()


def latest(store: Any) -> dict[str, Any]:
    return json.loads(store.ask(GetLatestCandle(symbol=SYMBOL), timeout=ASK_TIMEOUT_S))


def published_body(store: Any, published: Latest) -> dict[str, Any] | None:
    """What REST reads without asking, once the store has handled what it was told."""
    store.ask(Barrier(), timeout=ASK_TIMEOUT_S)
    body = published.candle(SYMBOL)
    return None if body is None else json.loads(body)


def test_latest_candle_follows_new_candles_and_revisions(store: Any) -> None:
    with pytest.raises(NoDataYet):
        store.ask(GetLatestCandle(symbol=SYMBOL), timeout=ASK_TIMEOUT_S)
    first = empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15"))
    store.tell(first)
    assert latest(store)["open_time"] == first.open_time
    assert latest(store) == latest(store), "asked twice, the same body"
    second = empty_candle(SYMBOL, 1_795_836_602, Decimal("43012.15"))
    store.tell(second)
    assert latest(store)["open_time"] == second.open_time
    store.tell(msgspec.structs.replace(second, high=Decimal("43013.02"), close=Decimal("43013.02"), revision=1))
    revised = latest(store)
    assert (revised["open_time"], revised["revision"], revised["close"]) == (second.open_time, 1, 43013.02)


def test_latest_candle_of_a_removed_symbol_is_not_subscribed(store: Any) -> None:
    store.tell(empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15")))
    assert latest(store)["symbol"] == SYMBOL
    store.tell(SymbolDeactivated(symbol=SYMBOL))
    with pytest.raises(NotSubscribed):
        store.ask(GetLatestCandle(symbol=SYMBOL), timeout=ASK_TIMEOUT_S)
    store.tell(SymbolActivated(symbol=SYMBOL))
    with pytest.raises(NoDataYet):
        store.ask(GetLatestCandle(symbol=SYMBOL), timeout=ASK_TIMEOUT_S)


def test_published_body_is_the_latest_candle_and_nothing_of_a_removed_symbol(store: Any, published: Latest) -> None:
    assert published_body(store, published) is None, "subscribed, no candle yet"
    first = empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15"))
    second = empty_candle(SYMBOL, 1_795_836_602, Decimal("43012.15"))
    store.tell(first)
    store.tell(second)
    assert published_body(store, published) == latest(store)
    assert published_body(store, published)["open_time"] == second.open_time
    store.tell(msgspec.structs.replace(first, close=Decimal("43000"), revision=1))
    assert published_body(store, published)["open_time"] == second.open_time, "an older revision is not the latest"
    store.tell(msgspec.structs.replace(second, close=Decimal("43013.02"), revision=1))
    assert (published_body(store, published) or {}).get("revision") == 1
    store.tell(SymbolDeactivated(symbol=SYMBOL))
    assert published_body(store, published) is None
    store.tell(SymbolActivated(symbol=SYMBOL))
    assert published_body(store, published) is None, "subscribed again: nothing of before"
    with pytest.raises(NoDataYet):
        store.ask(GetLatestCandle(symbol=SYMBOL), timeout=ASK_TIMEOUT_S)


def test_a_stopped_store_leaves_nothing_published(published: Latest, tmp_path: Path) -> None:
    """REST then asks the store, and answers 503 instead of a candle no longer kept current."""
    store = start_store(published, tmp_path)
    store.tell(SymbolActivated(symbol=SYMBOL))
    store.tell(empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15")))
    assert published_body(store, published) is not None
    store.stop()
    assert published.candle(SYMBOL) is None


def test_candles_and_the_symbol_set_reach_the_disk(published: Latest, tmp_path: Path) -> None:
    store = start_store(published, tmp_path)
    store.tell(SymbolActivated(symbol=SYMBOL))
    store.tell(SymbolActivated(symbol="ETHUSDT"))
    first = empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15"))
    store.tell(first)
    store.tell(msgspec.structs.replace(first, close=Decimal("43000"), revision=1))
    store.tell(empty_candle(SYMBOL, 1_795_836_602, Decimal("43000")))
    store.tell(empty_candle("XRPUSDT", 1_795_836_602, Decimal("1")))  # not subscribed: not kept
    store.tell(SymbolDeactivated(symbol="ETHUSDT"))
    store.stop()  # writes what is queued before it ends
    history = SqliteStore(tmp_path / "candles.sqlite3")
    try:
        candles = history.candles(SYMBOL, 0, 2**62, 10)
        assert [(c.open_time, c.revision, c.close) for c in candles] == [
            (1_795_836_601_000, 1, Decimal("43000")),
            (1_795_836_602_000, 0, Decimal("43000")),
        ]
        assert history.candles("XRPUSDT", 0, 2**62, 10) == []
        assert history.symbols() == (SYMBOL,)
    finally:
        history.close()
