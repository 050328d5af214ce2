"""The aggregator actor on a pool thread: trades and closed seconds in, candles out to both
receivers, a late trade re-published as a revision (also of a candle only the store still has,
read back through the history reader), a refused trade sent to the backfill, a confirmed
subscription publishing from the next second at the price the backfill seeds, and a message
that fails its handler logged without silencing the symbol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from candlecast.actors.aggregator import AggregatorActor
from candlecast.actors.history_reader import HistoryReaderActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.history.sqlite import SqliteStore
from candlecast.market_data import Candle, Trade, TradeBatch
from candlecast.messages.backfill import PriceSeeded, RequestBackfill, RequestSeed
from candlecast.messages.clock import SecondElapsed
from candlecast.messages.store import Barrier
from candlecast.messages.upstream import SubscriptionConfirmed, TradeRejected
from candlecast.runtime.actor_pool import ActorPool
from tests.clients import wait_for_at_least
from tests.recorder import Recorder

SYMBOL = "BTCUSDT"
SECOND = 1_795_836_601
ASK_TIMEOUT_S = 2.0


def trade(trade_id: int, second: int, price: str = "43000.00", quantity: str = "0.5") -> Trade:
    return Trade(
        symbol=SYMBOL,
        trade_id=trade_id,
        price=Decimal(price),
        quantity=Decimal(quantity),
        time=second * 1000 + trade_id,
        buyer_is_maker=False,
    )


def batch(*trades: Trade) -> TradeBatch:
    return TradeBatch(symbol=SYMBOL, trades=trades)


@dataclass
class Aggregating:
    aggregator: pykka.ActorRef[Any]
    broadcaster: pykka.ActorRef[Any]
    store: pykka.ActorRef[Any]
    backfill: pykka.ActorRef[Any]
    exchange_time: ExchangeTime

    def confirmed(self, confirmed_ms: int) -> SubscriptionConfirmed:
        """The confirmation a reader reading at exchange time ``confirmed_ms`` stamps."""
        return SubscriptionConfirmed(symbol=SYMBOL, confirmed_at_ms=confirmed_ms - self.exchange_time.offset_ms)

    def candles(self) -> list[Candle]:
        """Every candle the aggregator has told so far: the store and the broadcaster alike."""
        self.aggregator.ask(Barrier(), timeout=ASK_TIMEOUT_S)  # it has told everything it will
        told: list[Candle] = self.store.ask("kept", timeout=ASK_TIMEOUT_S)
        assert self.broadcaster.ask("kept", timeout=ASK_TIMEOUT_S) == told
        return told


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Entered before the actor starts: it binds its logger as it starts."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[SqliteStore]:
    """The candle store the history reader reads; tests write to it what the writer would."""
    store = SqliteStore(tmp_path / "candles.sqlite3")
    yield store
    store.close()


@pytest.fixture
def memory_s() -> int:
    return 60


@pytest.fixture
def aggregating(logs: list[dict[str, Any]], stored: SqliteStore, memory_s: int) -> Iterator[Aggregating]:
    pool = ActorPool("aggregators", 1)
    pool.start()
    broadcaster, store = Recorder.start(Candle), Recorder.start(Candle)
    backfill = Recorder.start((RequestBackfill, RequestSeed))
    history = HistoryReaderActor.start(store=stored)
    exchange_time = ExchangeTime()
    exchange_time.known.set()
    aggregator = AggregatorActor.start(
        pool,
        symbol=SYMBOL,
        fill_empty=True,
        window_s=60,
        memory_s=memory_s,
        broadcaster=broadcaster,
        store=store,
        backfill=backfill,
        history=history,
        exchange_time=exchange_time,
    )
    yield Aggregating(aggregator, broadcaster, store, backfill, exchange_time)
    aggregator.stop()
    pool.stop()
    for ref in (broadcaster, store, backfill, history):
        ref.stop()


def warmed_up(aggregating: Aggregating) -> None:
    """The subscription takes effect inside SECOND, so its trades only give the price:
    publishing starts with the next."""
    aggregating.aggregator.tell(aggregating.confirmed(SECOND * 1000))
    aggregating.aggregator.tell(batch(trade(1, SECOND)))


def test_trades_of_a_second_are_one_candle_once_the_clock_passes_it(aggregating: Aggregating) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1, "43001.00"), trade(3, SECOND + 1, "42999.50", "0.25")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 2))
    first, empty = aggregating.candles()
    assert (first.open_time, first.open, first.high, first.low, first.close) == (
        (SECOND + 1) * 1000,
        Decimal("43001.00"),
        Decimal("43001.00"),
        Decimal("42999.50"),
        Decimal("42999.50"),
    )
    assert (first.volume, first.trades, first.first_trade_id, first.last_trade_id) == (Decimal("0.75"), 2, 2, 3)
    assert (empty.open_time, empty.trades, empty.close) == ((SECOND + 2) * 1000, 0, Decimal("42999.50"))


def test_a_trade_of_a_later_second_closes_the_open_one_without_the_clock(aggregating: Aggregating) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1), trade(3, SECOND + 2)))
    (candle,) = aggregating.candles()
    assert candle.open_time == (SECOND + 1) * 1000 and candle.last_trade_id == 2


def test_a_late_trade_revises_its_published_candle(aggregating: Aggregating) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1, "43000.00")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 1))
    (published,) = aggregating.candles()
    aggregating.aggregator.tell(batch(trade(3, SECOND + 1, "43005.00")))
    published_again, revised = aggregating.candles()
    assert published_again == published and published.revision == 0
    assert (revised.open_time, revised.revision, revised.high, revised.trades) == (
        published.open_time,
        1,
        Decimal("43005.00"),
        2,
    )


@pytest.mark.parametrize("memory_s", [2])
def test_a_late_trade_older_than_memory_revises_the_stored_candle_read_back(
    aggregating: Aggregating, stored: SqliteStore
) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1, "43000.00")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 6))
    published = aggregating.candles()
    assert [c.open_time // 1000 for c in published] == list(range(SECOND + 1, SECOND + 7))
    stored.write(published)  # as the history writer does
    aggregating.aggregator.tell(batch(trade(3, SECOND + 1, "43005.00")))  # older than the 2 s kept
    # The answer comes back from the reader's thread: wait for it before comparing both receivers.
    wait_for_at_least(len(published) + 6, lambda: aggregating.store.ask("kept", timeout=ASK_TIMEOUT_S))
    revised = aggregating.candles()[len(published) :]
    assert [(c.open_time // 1000, c.revision, c.close, c.trades) for c in revised] == [
        (SECOND + 1, 1, Decimal("43005.00"), 2),
        *((second, 1, Decimal("43005.00"), 0) for second in range(SECOND + 2, SECOND + 7)),
    ]


def test_a_refused_trade_asks_the_backfill_for_it_and_the_reply_comes_to_the_aggregator(
    aggregating: Aggregating,
) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1)))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 1))
    aggregating.candles()
    aggregating.aggregator.tell(TradeRejected(symbol=SYMBOL, trade_id=3, reason="price is not a number"))
    aggregating.aggregator.ask(Barrier(), timeout=ASK_TIMEOUT_S)
    kept = aggregating.backfill.ask("kept", timeout=ASK_TIMEOUT_S)
    (request,) = [r for r in kept if isinstance(r, RequestBackfill)]
    assert (request.symbol, request.first_id) == (SYMBOL, 3)
    assert request.reply_to == aggregating.aggregator


def test_a_confirmed_subscription_publishes_from_the_next_second_at_the_seeded_price(
    aggregating: Aggregating, logs: list[dict[str, Any]]
) -> None:
    aggregating.aggregator.tell(aggregating.confirmed(SECOND * 1000 + 300))
    aggregating.aggregator.tell(aggregating.confirmed((SECOND + 1) * 1000))  # a reconnect
    aggregating.aggregator.ask(Barrier(), timeout=ASK_TIMEOUT_S)
    (request,) = aggregating.backfill.ask("kept", timeout=ASK_TIMEOUT_S)
    assert request == RequestSeed(SYMBOL, reply_to=aggregating.aggregator)
    aggregating.aggregator.tell(PriceSeeded(SYMBOL, trade(1, SECOND - 2, "42000.00")))
    aggregating.aggregator.tell(batch(trade(2, SECOND + 2, "43001.00")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 2))
    assert [(c.open_time // 1000, c.close, c.trades) for c in aggregating.candles()] == [
        (SECOND + 1, Decimal("42000.00"), 0),
        (SECOND + 2, Decimal("43001.00"), 1),
    ]
    assert [(e["event"], e.get("first_second", e.get("outcome"))) for e in logs if e.get("symbol") == SYMBOL] == [
        ("subscription confirmed", SECOND + 1),
        ("price seed", "used"),
    ]


def test_a_confirmation_waits_for_the_exchanges_clock_to_be_known(aggregating: Aggregating) -> None:
    aggregating.exchange_time.known.clear()
    aggregating.aggregator.tell(aggregating.confirmed(SECOND * 1000 + 300))
    aggregating.aggregator.ask(Barrier(), timeout=ASK_TIMEOUT_S)
    assert aggregating.backfill.ask("kept", timeout=ASK_TIMEOUT_S) == []
    aggregating.exchange_time.offset_ms += 2000  # read 2 s later on the exchange's clock than thought
    aggregating.exchange_time.known.set()
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 1))
    aggregating.aggregator.tell(PriceSeeded(SYMBOL, trade(1, SECOND - 2, "42000.00")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 3))
    assert [c.open_time // 1000 for c in aggregating.candles()] == [SECOND + 3]


def test_a_failed_seed_is_logged_and_the_first_trading_second_still_published(
    aggregating: Aggregating, logs: list[dict[str, Any]]
) -> None:
    aggregating.aggregator.tell(aggregating.confirmed(SECOND * 1000 + 300))
    aggregating.aggregator.tell(PriceSeeded(SYMBOL, None, "GET /api/v3/trades: REST weight budget reached"))
    aggregating.aggregator.tell(batch(trade(2, SECOND + 2, "43001.00")))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 2))
    assert [(c.open_time // 1000, c.trades) for c in aggregating.candles()] == [(SECOND + 2, 1)]
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert (warning["outcome"], warning["error"]) == ("failed", "GET /api/v3/trades: REST weight budget reached")


def test_a_message_that_fails_is_logged_and_the_symbol_goes_on(
    aggregating: Aggregating, logs: list[dict[str, Any]]
) -> None:
    warmed_up(aggregating)
    aggregating.aggregator.tell(TradeBatch(symbol=SYMBOL, trades=None))  # type: ignore[arg-type]
    aggregating.aggregator.tell(batch(trade(2, SECOND + 1)))
    aggregating.aggregator.tell(SecondElapsed(second=SECOND + 1))
    (candle,) = aggregating.candles()
    assert candle.last_trade_id == 2 and aggregating.aggregator.is_alive()
    failures = [entry for entry in logs if entry["event"] == "message handling failed"]
    assert [entry["message_type"] for entry in failures] == ["TradeBatch"]
