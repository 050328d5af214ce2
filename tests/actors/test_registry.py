"""The registry actor with recording collaborators and connections to the simulator: symbols
are validated against the simulator's exchangeInfo, added and removed with the store, the
broadcaster and the clock told, packed onto connections with room, kept when exchangeInfo shows
them halted, and bounded by --max-symbols."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from candlecast.actors.registry import RegistryActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.errors import AlreadySubscribed, ExchangeInfoUnavailable, InvalidSymbol, NotSubscribed, TooManySymbols
from candlecast.messages.backfill import RequestBackfill
from candlecast.messages.clock import AggregatorsChanged
from candlecast.messages.store import Barrier
from candlecast.messages.symbols import (
    AddSymbol,
    ExchangeInfoLoaded,
    ListAvailable,
    ListHalted,
    ListSymbols,
    RemoveSymbol,
    SymbolActivated,
    SymbolDeactivated,
)
from candlecast.messages.upstream import GetUpstreamStatus, UpstreamStatus
from candlecast.settings import Settings
from candlecast.sim import Simulator
from tests.clients import wait_for
from tests.conftest import closed_port, settings_for
from tests.recorder import Recorder

ASK_TIMEOUT_S = 5.0


@dataclass
class Registry:
    ref: pykka.ActorRef[Any]
    store: pykka.ActorRef[Any]
    broadcaster: pykka.ActorRef[Any]
    clock: pykka.ActorRef[Any]

    def ask(self, message: Any) -> Any:
        return self.ref.ask(message, timeout=ASK_TIMEOUT_S)

    def status(self) -> UpstreamStatus:
        status: UpstreamStatus = self.ask(GetUpstreamStatus())
        return status

    def connections(self) -> dict[int, tuple[str, ...]]:
        return {c.connection_id: c.symbols for c in self.status().connections}

    def loaded(self) -> None:
        wait_for(lambda: self.status().exchange_info_loaded)

    def told(self, receiver: pykka.ActorRef[Any]) -> list[Any]:
        """What ``receiver`` was told so far by the registry."""
        self.ask(Barrier())
        kept: list[Any] = receiver.ask("kept", timeout=ASK_TIMEOUT_S)
        return kept


StartRegistry = Callable[..., Registry]


@pytest.fixture
def start_registry(simulator: Simulator) -> Iterator[StartRegistry]:
    """Starts a registry with ``Settings`` overrides; stops it and its collaborators afterwards."""
    started: list[pykka.ActorRef[Any]] = []

    def start(**overrides: Any) -> Registry:
        settings: Settings = settings_for(simulator, **{"symbols": (), **overrides})
        store = Recorder.start((SymbolActivated, SymbolDeactivated))
        broadcaster = Recorder.start((SymbolActivated, SymbolDeactivated))
        clock = Recorder.start(AggregatorsChanged)
        backfill = Recorder.start(RequestBackfill)
        ref = RegistryActor.start(
            settings=settings,
            clock=clock,
            broadcaster=broadcaster,
            store=store,
            backfill=backfill,
            history=backfill,
            exchange_time=ExchangeTime(),
        )
        started.extend([store, broadcaster, clock, backfill, ref])
        return Registry(ref, store, broadcaster, clock)

    yield start
    for ref in reversed(started):
        ref.stop()


def test_symbols_are_validated_against_exchange_info(start_registry: StartRegistry) -> None:
    registry = start_registry()
    registry.loaded()
    available = registry.ask(ListAvailable())
    assert "BTCUSDT" in available and "LUNAUSDT" not in available and list(available) == sorted(available)
    for symbol in ("NOPEUSDT", "LUNAUSDT"):
        with pytest.raises(InvalidSymbol):
            registry.ask(AddSymbol(symbol=symbol))
    assert registry.ask(AddSymbol(symbol="BTCUSDT")) == "BTCUSDT"
    with pytest.raises(AlreadySubscribed):
        registry.ask(AddSymbol(symbol="BTCUSDT"))
    assert registry.ask(ListSymbols()) == ("BTCUSDT",)


def test_without_exchange_info_nothing_can_be_added_but_initial_symbols_stream(start_registry: StartRegistry) -> None:
    registry = start_registry(symbols=("BTCUSDT",), rest_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ExchangeInfoUnavailable):
        registry.ask(ListAvailable())
    with pytest.raises(ExchangeInfoUnavailable):
        registry.ask(AddSymbol(symbol="ETHUSDT"))
    assert registry.ask(ListSymbols()) == ("BTCUSDT",)
    assert registry.ask(ListHalted()) == (), "nothing is halted before exchangeInfo says so"
    wait_for(lambda: registry.status().connected)


def test_adding_and_removing_tells_the_store_the_broadcaster_and_the_clock(start_registry: StartRegistry) -> None:
    registry = start_registry()
    registry.loaded()
    registry.ask(AddSymbol(symbol="BTCUSDT"))
    registry.ask(AddSymbol(symbol="ETHUSDT"))
    assert registry.ask(RemoveSymbol(symbol="BTCUSDT")) == "BTCUSDT"
    with pytest.raises(NotSubscribed):
        registry.ask(RemoveSymbol(symbol="BTCUSDT"))
    expected = [
        SymbolActivated(symbol="BTCUSDT"),
        SymbolActivated(symbol="ETHUSDT"),
        SymbolDeactivated(symbol="BTCUSDT"),
    ]
    assert registry.told(registry.store) == expected
    assert registry.told(registry.broadcaster) == expected
    ticked = [tuple(symbol for symbol, _ in changed.aggregators) for changed in registry.told(registry.clock)]
    assert ticked == [("BTCUSDT",), ("BTCUSDT", "ETHUSDT"), ("ETHUSDT",)]
    assert registry.ask(ListSymbols()) == ("ETHUSDT",)


def test_no_more_than_max_symbols(start_registry: StartRegistry) -> None:
    registry = start_registry(symbols=("BTCUSDT",), max_symbols=2)
    registry.loaded()
    registry.ask(AddSymbol(symbol="ETHUSDT"))
    with pytest.raises(TooManySymbols, match="2 symbols are subscribed"):
        registry.ask(AddSymbol(symbol="SOLUSDT"))
    registry.ask(RemoveSymbol(symbol="BTCUSDT"))
    assert registry.ask(AddSymbol(symbol="SOLUSDT")) == "SOLUSDT", "room again once one is removed"


def test_a_symbol_not_trading_stays_subscribed_and_is_shown_halted_until_it_trades_again(
    start_registry: StartRegistry,
) -> None:
    registry = start_registry(symbols=("BTCUSDT", "LUNAUSDT"))
    registry.loaded()
    assert registry.ask(ListHalted()) == ("LUNAUSDT",)
    assert registry.status().halted == ("LUNAUSDT",)
    assert registry.ask(ListSymbols()) == ("BTCUSDT", "LUNAUSDT")
    with pytest.raises(AlreadySubscribed):
        registry.ask(AddSymbol(symbol="LUNAUSDT"))
    registry.ref.tell(ExchangeInfoLoaded(trading=frozenset({"BTCUSDT", "LUNAUSDT"})))
    assert registry.ask(ListHalted()) == ()
    registry.ref.tell(ExchangeInfoLoaded(trading=frozenset({"LUNAUSDT"})))
    assert registry.ask(ListHalted()) == ("BTCUSDT",)
    assert registry.ask(ListSymbols()) == ("BTCUSDT", "LUNAUSDT"), "one odd answer removes nothing"


def test_symbols_fill_connections_in_order_and_an_emptied_connection_is_not_reused(
    start_registry: StartRegistry,
) -> None:
    registry = start_registry(streams_per_connection=2)
    registry.loaded()
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        registry.ask(AddSymbol(symbol=symbol))
    assert registry.connections() == {1: ("BTCUSDT", "ETHUSDT"), 2: ("SOLUSDT",)}
    registry.ask(RemoveSymbol(symbol="SOLUSDT"))
    assert registry.connections() == {1: ("BTCUSDT", "ETHUSDT")}, "a connection left without symbols stops"
    registry.ask(RemoveSymbol(symbol="BTCUSDT"))
    registry.ask(AddSymbol(symbol="BNBUSDT"))
    registry.ask(AddSymbol(symbol="XRPUSDT"))
    assert registry.connections() == {1: ("BNBUSDT", "ETHUSDT"), 3: ("XRPUSDT",)}
    wait_for(lambda: all(c.state == "connected" for c in registry.status().connections))
