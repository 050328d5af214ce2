"""The registry owns the set of active symbols: it validates them against exchangeInfo, starts
and stops their aggregators, and packs their streams onto connection actors, whose status it
collects for REST. Only the user removes a symbol: one that exchangeInfo no longer shows TRADING
stays subscribed and is reported ``halted``, since one odd answer must not end a subscription.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from candlecast.actors.aggregator import AggregatorActor
from candlecast.actors.base import Actor, tell_if_alive
from candlecast.actors.connection import ConnectionActor
from candlecast.clock.exchange_time import ExchangeTime
from candlecast.errors import AlreadySubscribed, ExchangeInfoUnavailable, InvalidSymbol, NotSubscribed, TooManySymbols
from candlecast.messages.clock import AggregatorsChanged
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.symbols import (
    AddSymbol,
    ExchangeInfoLoaded,
    GetSymbolEntries,
    ListAvailable,
    ListHalted,
    ListSymbols,
    RemoveSymbol,
    SymbolActivated,
    SymbolDeactivated,
)
from candlecast.messages.upstream import (
    ConnectionStateChanged,
    ConnectionStatus,
    GetUpstreamStatus,
    Unwatch,
    UpstreamStatus,
    Watch,
)
from candlecast.runtime.actor_pool import ActorPool
from candlecast.runtime.poller import Poller
from candlecast.runtime.supervision import Supervisor
from candlecast.settings import Settings
from candlecast.upstream.connect_attempts import ConnectAttempts
from candlecast.upstream.exchange_info import fetch_trading_entries


class _Connection:
    """The registry's own bookkeeping of one connection actor."""

    __slots__ = ("ref", "state", "symbols")

    def __init__(self, ref: pykka.ActorRef[Any], connection_id: int) -> None:
        self.ref = ref
        self.symbols: set[str] = set()
        self.state = ConnectionStateChanged(ConnectionStatus(connection_id=connection_id, state="idle"))


class RegistryActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Any,
        broadcaster: Any,
        store: Any,
        backfill: Any,
        history: Any,
        exchange_time: ExchangeTime,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(actor="registry")
        self._settings = settings
        self._exchange_time = exchange_time
        self.supervisor = Supervisor()
        self._clock = clock
        self._backfill = backfill
        self._history = history
        self._broadcaster = broadcaster
        self._store = store
        self._trading: frozenset[str] | None = None
        self._entries: dict[str, Any] = {}
        self._aggregators: dict[str, pykka.ActorRef[Any]] = {}
        self._aggregator_pool = ActorPool("aggregators", settings.aggregator_threads)
        self._connections: dict[int, _Connection] = {}
        self._connection_ids = itertools.count(1)
        self._connect_attempts = ConnectAttempts(settings.connect_attempts)
        self._monotonic = monotonic
        self._exchange_info = self._new_exchange_info()

    def _new_exchange_info(self) -> Poller[dict[str, Any]]:
        return Poller(
            name="exchange-info",
            fetch=lambda: fetch_trading_entries(self._settings.rest_url),
            deliver=lambda entries: self.actor_ref.tell(
                ExchangeInfoLoaded(trading=frozenset(entries), entries=entries)
            ),
            interval_s=self._settings.exchange_info_interval_s,
            retry_cap_s=self._settings.reconnect_max_s,
            on_ended=lambda ended: tell_if_alive(self.actor_ref, ended),
        )

    def on_start(self) -> None:
        self._aggregator_pool.start()
        # Initial symbols start streaming at once; exchangeInfo, when it arrives, shows any not TRADING as halted.
        for symbol in self._settings.symbols:
            self._activate(symbol)
        self.supervisor.start(self._exchange_info)

    def on_stop(self) -> None:
        """Connections first (no more trades), then every aggregator at once: each finishes
        its mailbox, and a thousand of them stopping one by one would take a thousand waits."""
        self._exchange_info.stop()
        pykka.get_all([connection.ref.stop(block=False) for connection in self._connections.values()])
        pykka.get_all([aggregator.stop(block=False) for aggregator in self._aggregators.values()])
        self._aggregator_pool.stop()

    def handle(self, message: Any) -> Any:  # noqa: PLR0911, PLR0912 (one case per message type)
        match message:
            case AddSymbol(symbol=symbol):
                self._check_can_add(symbol)
                self._activate(symbol)
                return symbol
            case RemoveSymbol(symbol=symbol):
                if symbol not in self._aggregators:
                    raise NotSubscribed(f"{symbol} is not subscribed")
                self._deactivate(symbol)
                return symbol
            case ListSymbols():
                return tuple(sorted(self._aggregators))
            case ListHalted():
                return self._halted()
            case ListAvailable():
                if self._trading is None:
                    raise ExchangeInfoUnavailable("exchangeInfo has not loaded yet")
                return tuple(sorted(self._trading))
            case GetUpstreamStatus():
                return self._status()
            case ExchangeInfoLoaded(trading=trading, entries=entries):
                self._apply_exchange_info(trading)
                self._entries = entries
            case GetSymbolEntries():
                entries = self._entries
                return {symbol: entries[symbol] for symbol in sorted(self._aggregators) if symbol in entries}
            case ThreadEnded():
                self._exchange_info = self.supervisor.restart(message, self._exchange_info, self._new_exchange_info)
            case ConnectionStateChanged(status=ConnectionStatus(connection_id=connection_id)):
                if connection_id in self._connections:
                    self._connections[connection_id].state = message
        return None

    def _check_can_add(self, symbol: str) -> None:
        if symbol in self._aggregators:  # halted or not
            raise AlreadySubscribed(f"{symbol} is already subscribed")
        if self._trading is None:
            raise ExchangeInfoUnavailable("exchangeInfo has not loaded yet; cannot validate symbols")
        if symbol not in self._trading:
            raise InvalidSymbol(f"{symbol} is not a symbol Binance is trading")
        if len(self._aggregators) >= self._settings.max_symbols:
            limit = self._settings.max_symbols
            raise TooManySymbols(f"{limit} symbols are subscribed, the most --max-symbols allows; remove one first")

    def _apply_exchange_info(self, trading: frozenset[str]) -> None:
        was_halted = set(self._halted())
        first_load = self._trading is None
        self._trading = trading
        if first_load:
            self.log.info("exchange info loaded", trading_symbols=len(trading))
        halted = set(self._halted())
        for symbol in sorted(halted - was_halted):
            self.log.warning("symbol is not trading; kept subscribed and shown halted", symbol=symbol)
        for symbol in sorted(was_halted - halted):
            self.log.info("halted symbol is trading again", symbol=symbol)

    def _halted(self) -> tuple[str, ...]:
        """Subscribed symbols the latest exchangeInfo does not show TRADING, sorted."""
        if self._trading is None:
            return ()
        return tuple(sorted(set(self._aggregators) - self._trading))

    def _activate(self, symbol: str) -> None:
        # Before the aggregator exists: what it sends them comes after.
        for owner in (self._store, self._broadcaster):
            owner.tell(SymbolActivated(symbol=symbol))
        aggregator = AggregatorActor.start(
            self._aggregator_pool,
            symbol=symbol,
            fill_empty=self._settings.empty_candles,
            window_s=self._settings.backfill_window_s,
            memory_s=self._settings.memory_seconds,
            broadcaster=self._broadcaster,
            store=self._store,
            backfill=self._backfill,
            history=self._history,
            exchange_time=self._exchange_time,
        )
        self._aggregators[symbol] = aggregator
        self._clock.tell(AggregatorsChanged(aggregators=tuple(self._aggregators.items())))
        connection = self._connection_with_room()
        connection.symbols.add(symbol)
        connection.ref.tell(Watch(symbol=symbol, aggregator=aggregator))
        self.log.info("symbol subscribed", symbol=symbol)

    def _deactivate(self, symbol: str) -> None:
        for connection_id, connection in list(self._connections.items()):
            if symbol in connection.symbols:
                connection.symbols.discard(symbol)
                connection.ref.tell(Unwatch(symbol=symbol))
                if not connection.symbols:
                    del self._connections[connection_id]
                    connection.ref.stop(block=False)
        self._aggregators.pop(symbol).stop(block=False)
        self._clock.tell(AggregatorsChanged(aggregators=tuple(self._aggregators.items())))
        for owner in (self._store, self._broadcaster):
            owner.tell(SymbolDeactivated(symbol=symbol))
        self.log.info("symbol unsubscribed", symbol=symbol)

    def _connection_with_room(self) -> _Connection:
        for connection in self._connections.values():
            if len(connection.symbols) < self._settings.streams_per_connection:
                return connection
        connection_id = next(self._connection_ids)
        ref = ConnectionActor.start(
            connection_id=connection_id,
            settings=self._settings,
            connect_attempts=self._connect_attempts,
            registry=self.actor_ref,
            trade_listeners=(self._broadcaster, self._store),
            clock=self._clock,
            exchange_time=self._exchange_time,
        )
        connection = _Connection(ref, connection_id)
        self._connections[connection_id] = connection
        return connection

    def _status(self) -> UpstreamStatus:
        now = self._monotonic()
        return UpstreamStatus(
            exchange_info_loaded=self._trading is not None,
            halted=self._halted(),
            connections=tuple(
                msgspec.structs.replace(
                    c.state.status,
                    symbols=tuple(sorted(c.symbols)),
                    last_frame_age_s=None if c.state.last_frame_at is None else round(now - c.state.last_frame_at, 3),
                )
                for c in self._connections.values()
            ),
        )
