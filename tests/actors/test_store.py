"""The store actor as REST reads it: the latest candle's body, published to ``Latest``
and answered when asked, follows every new candle and every revision of the latest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from candlecast.actors.store import StoreActor
from candlecast.candles.series import empty_candle
from candlecast.errors import NoDataYet, NotSubscribed
from candlecast.messages.store import Barrier, GetLatestCandle
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.store.latest import Latest

SYMBOL = "BTCUSDT"
ASK_TIMEOUT_S = 2.0


@pytest.fixture
def published() -> Latest:
    return Latest()


@pytest.fixture
def store(published: Latest) -> Iterator[Any]:
    ref = StoreActor.start(history_seconds=60, latest=published)
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


def test_a_stopped_store_leaves_nothing_published(published: Latest) -> None:
    """REST then asks the store, and answers 503 instead of a candle no longer kept current."""
    store = StoreActor.start(history_seconds=60, latest=published)
    store.tell(SymbolActivated(symbol=SYMBOL))
    store.tell(empty_candle(SYMBOL, 1_795_836_601, Decimal("43012.15")))
    assert published_body(store, published) is not None
    store.stop()
    assert published.candle(SYMBOL) is None
