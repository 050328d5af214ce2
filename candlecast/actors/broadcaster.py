"""The broadcaster fans candles, gap events and trades out to WebSocket clients by subscription.

It owns the clients' subscriptions and the encoding: each message is encoded into a WebSocket
frame once. Candles, gap events and trades go out on a tick (every ``TICK_S``), and at once
when a candle completes its second (``closed_seconds``): for each group
of clients with the same subscriptions the frames they want are joined once, and every writer
(``WriterActor``, each owning the writing half of a share of the clients) is told the result
in one immutable ``Publish``. A writer gives each client what it is owed in one non-blocking
write, so the candles of every symbol closing in the same second cost a client one system
call, not one each; a client that does not keep up is handled by its consumer's backlog
policy and never delays the others. A candle revised several times within a tick goes out
once, at its newest revision. A second's candles wait up to ``candle_linger_s`` for each other
(``candle_linger``), so a client gets a second's candles in one write. Limits on
clients overall and per address are enforced here, where the client set lives, with close
codes 1013 and 1008.

On subscribe a client gets the latest closed candle of each symbol at once; with ``since``
every candle it missed, in order, before the live ones: replay and live stream come from the
same mailbox, so nothing falls between them. Trades come from the upstream readers, one read
at a time; those of symbols someone wants are deduplicated by trade id (a socket replacing
another repeats some) and sent at most every ``trade_interval_s`` per symbol, trades arriving
sooner held and sent together on a later tick.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
from wsproto.frame_protocol import FrameProtocol

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.actors.writer import WriterActor
from candlecast.candles.trade_ids import TradeIds
from candlecast.fanout import subscriptions
from candlecast.fanout.candle_linger import NOT_A_CANDLE, CandleLinger
from candlecast.fanout.closed_seconds import ClosedSeconds
from candlecast.fanout.outbox import CANDLE, OTHER, TRADE, Outbound, replay_limit
from candlecast.fanout.recent_candles import RecentCandles
from candlecast.http import encoding
from candlecast.market_data import Candle, GapEvent, Trade, TradesArrived
from candlecast.messages.clock import SecondElapsed
from candlecast.messages.fanout import (
    BroadcastStats,
    BroadcastTick,
    ChangeSubscriptions,
    ClientConnected,
    ClientControl,
    ClientEvicted,
    ClientGone,
    ClientNotice,
    CloseClient,
    CpuSeconds,
    DisconnectAll,
    GetBroadcastStats,
    Publish,
    Regroup,
    ReplayTo,
    UpgradeRefused,
    WriterCounters,
    WriterTick,
    WriteTo,
)
from candlecast.messages.supervision import ThreadEnded
from candlecast.messages.symbols import SymbolActivated, SymbolDeactivated
from candlecast.runtime.supervision import Supervisor
from candlecast.runtime.ticker import Ticker

SERVER_FULL_CLOSE_CODE = 1013
POLICY_CLOSE_CODE = 1008
TICK_S = 0.01
# Writers report their counters every this many ticks: /health may lag 100 ms behind.
REPORT_TICKS = 10

# Starts writer ``index`` for the broadcaster; what it returns is told ``Publish``es and stopped with it.
WriterStart = Callable[[int, "pykka.ActorRef[Any]"], Any]

# Ids sent are remembered as ranges; holes (upstream gaps) add ranges, and only the newest
# few can still be repeated by an overlapping socket.
TRADE_ID_RANGES = 8
# Clients with the same subscriptions (and the same explicit flag) receive the same bytes.
_GroupKey = tuple[subscriptions.Pairs, bool]
_NO_GROUPS: frozenset[_GroupKey] = frozenset()
_REPLY_TYPES = {"subscribe": "subscribed", "unsubscribe": "unsubscribed", "list": "subscriptions"}


@dataclasses.dataclass(frozen=True)
class ClientLimits:
    max_clients: int
    max_clients_per_address: int
    max_subscriptions: int
    backlog_bytes: int
    stall_timeout_s: float


@dataclasses.dataclass
class _Client:
    client_id: int
    peer: str
    subscriptions: subscriptions.Pairs
    explicit: bool

    @property
    def group(self) -> _GroupKey:
        """Clients with the same subscriptions receive the same bytes."""
        return self.subscriptions, self.explicit


@dataclasses.dataclass(frozen=True)
class _FanOut:
    channel: str
    explicit_only: bool  # gap events: not for clients on the implicit default
    message: Outbound
    second: int | None = NOT_A_CANDLE  # a candle's second


class BroadcasterActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        limits: ClientLimits,
        history_seconds: int = 3600,
        trade_interval_s: float = 0.05,
        candle_linger_s: float = 0.0,
        writers: int = 1,
        clock: Callable[[], float] = time.monotonic,
        start_writer: WriterStart | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        super().__init__(actor="broadcaster")
        self._limits = limits
        self._clock = clock
        self._encoder = FrameProtocol(client=False, extensions=[])
        self._writer_count = writers
        self._start_writer = start_writer or self._start_writer_actor
        self._writers: list[pykka.ActorRef[Any]] = []
        self._writer_counters: dict[int, WriterCounters] = {}
        self._clients: dict[int, _Client] = {}
        self._groups: dict[_GroupKey, dict[int, _Client]] = {}
        # Writers know a group by a number: compared by value, two equal sets of pairs cost
        # a comparison of every pair on each lookup.
        self._group_ids: dict[_GroupKey, int] = {}
        self._next_group_id = itertools.count()
        self._per_address: collections.Counter[str] = collections.Counter()
        self._outgoing: list[_FanOut] = []
        # Candles and gap events wait for the tick, in arrival order; a candle by (symbol, open time).
        self._events: dict[Any, Candle | GapEvent] = {}
        self._event_keys = itertools.count()
        self._recent = RecentCandles(history_seconds)
        self._held_trades: dict[str, list[Trade]] = {}
        # Per channel, the groups that want each symbol (ALL_SYMBOLS among them): a frame finds
        # its groups without a look at every group, which took seconds per second of candles
        # with thousands of differently subscribed clients.
        self._wanting: dict[str, dict[str, set[_GroupKey]]] = {subscriptions.CANDLE: {}, subscriptions.TRADE: {}}
        # The ids already sent of each symbol whose trades someone wants: overlapping upstream
        # sockets repeat trades.
        self._trade_ids: dict[str, TradeIds] = {}
        self._trades_sent_at: dict[str, float] = {}
        self._trade_interval_s = trade_interval_s
        self._linger: CandleLinger[_FanOut] = CandleLinger(candle_linger_s)
        self._closed_seconds = ClosedSeconds()
        self._active: set[str] = set()  # symbols subscribed upstream: whose candles are for clients
        self.supervisor = Supervisor()
        self._tick_s = tick_s
        self._ticker = self._new_ticker()
        self._ticks = 0
        self._replayed = 0
        self._evicted = 0
        self._rejected: collections.Counter[str] = collections.Counter()
        self._gone: collections.Counter[str] = collections.Counter()

    def on_start(self) -> None:
        self._writers = [self._start_writer(index, self.actor_ref) for index in range(self._writer_count)]
        self.supervisor.start(self._ticker)

    def _new_ticker(self) -> Ticker:
        return Ticker(
            "broadcast-tick",
            self._tick_s,
            self.actor_ref,
            BroadcastTick,
            on_ended=lambda ended: tell_if_alive(self.actor_ref, ended),
        )

    def _start_writer_actor(self, index: int, broadcaster: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
        limits = self._limits
        return WriterActor.start(index, broadcaster, limits.backlog_bytes, limits.stall_timeout_s, self._clock)

    def on_stop(self) -> None:
        self._ticker.stop()
        for writer in self._writers:
            writer.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case Candle(symbol=symbol) | GapEvent(symbol=symbol) if symbol not in self._active:
                pass  # sent by an aggregator stopping as its symbol was removed: for no one now
            case Candle(symbol=symbol, open_time=open_time):
                # A newer revision of a candle still waiting replaces it, at the newest place.
                self._events.pop((symbol, open_time), None)
                self._events[(symbol, open_time)] = message
                if self._closed_seconds.add(symbol, open_time // 1000):
                    self._publish()  # the last symbol closed this second: no need to wait for the tick
            case GapEvent():
                self._events[next(self._event_keys)] = message
            case SecondElapsed(second=second):
                self._linger.close(second)
            case TradesArrived(trades=trades):
                self._stream_trades(trades)
            case BroadcastTick():
                self._publish()
                self._tick_writers()
            case ClientConnected():
                self._connect(message)
            case ChangeSubscriptions():
                self._change(message)
            case ClientControl(client_id=client_id):
                self._writer(client_id).tell(message)
            case ClientNotice(client_id=client_id, text=text):
                self._write_text(client_id, text)
            case ClientGone(client_id=client_id, reason=reason):
                self._gone[reason] += 1
                if client_id in self._clients:
                    self._forget(client_id)
                self._writer(client_id).tell(message)
            case UpgradeRefused():
                self._rejected["requests_in_progress"] += 1
            case ClientEvicted(client_id=client_id):
                self._evicted += 1
                if client_id in self._clients:
                    self._forget(client_id)
            case WriterCounters(writer=index):
                self._writer_counters[index] = message
            case SymbolActivated(symbol=symbol):
                self._active.add(symbol)
            case SymbolDeactivated(symbol=symbol):
                self._active.discard(symbol)
                self._recent.forget(symbol)
                self._closed_seconds.forget(symbol)
                self._trade_ids.pop(symbol, None)
                self._held_trades.pop(symbol, None)
                self._trades_sent_at.pop(symbol, None)
            case DisconnectAll(code=code, reason=reason):
                self.log.info("closing websocket clients", clients=len(self._clients), code=code, reason=reason)
                for client_id in list(self._clients):
                    self._close(client_id, code, reason)
            case GetBroadcastStats():
                return self._stats()
            case ThreadEnded():
                self._ticker = self.supervisor.restart(message, self._ticker, self._new_ticker)
        return None

    # --- clients -----------------------------------------------------------------------------

    def _writer(self, client_id: int) -> pykka.ActorRef[Any]:
        return self._writers[client_id % len(self._writers)]

    def _connect(self, joined: ClientConnected) -> None:
        self._writer(joined.client_id).tell(joined)  # the writer takes the socket's writing half
        explicit = joined.subscriptions != subscriptions.DEFAULT
        client = _Client(joined.client_id, joined.peer, frozenset(), explicit)
        self._clients[joined.client_id] = client
        self._per_address[joined.peer] += 1
        refusal = self._refusal(joined)
        if refusal is not None:
            counter, code, reason = refusal
            self._rejected[counter] += 1
            self.log.info("websocket client refused", client_id=joined.client_id, peer=joined.peer, reason=reason)
            self._close(joined.client_id, code, reason)
            return
        self._subscribe(client, joined.subscriptions)
        if explicit:
            self._reply(client, "subscribe", None)
        self._replay(client, joined.subscriptions, joined.since)

    def _refusal(self, joined: ClientConnected) -> tuple[str, int, str] | None:
        """(counter, close code, reason) when a new client is over a limit."""
        limits = self._limits
        if len(self._clients) > limits.max_clients:
            return "server_full", SERVER_FULL_CLOSE_CODE, f"server full: {limits.max_clients} clients"
        if self._per_address[joined.peer] > limits.max_clients_per_address:
            reason = f"too many connections from this address (limit {limits.max_clients_per_address})"
            return "per_address", POLICY_CLOSE_CODE, reason
        if len(joined.subscriptions) > limits.max_subscriptions:
            return "subscriptions", POLICY_CLOSE_CODE, f"too many subscriptions (limit {limits.max_subscriptions})"
        return None

    def _close(self, client_id: int, code: int, reason: str) -> None:
        """Close a client from our side; its writer holds the socket until the reader lets go."""
        self._forget(client_id)
        self._writer(client_id).tell(CloseClient(client_id, code, reason))

    def _forget(self, client_id: int) -> None:
        client = self._clients.pop(client_id)
        self._subscribe(client, frozenset(), replace=True)
        self._per_address[client.peer] -= 1
        if not self._per_address[client.peer]:
            del self._per_address[client.peer]

    # --- subscriptions -----------------------------------------------------------------------

    def _subscribe(
        self, client: _Client, pairs: subscriptions.Pairs, replace: bool = False, explicit: bool | None = None
    ) -> None:
        """Set (``replace``) or add to the client's subscriptions, moving it to its new group."""
        client_id = client.client_id
        before = client.group
        # Candles waiting were published before the change (its replay has them): they go by
        # the subscriptions they were published under.
        self._deliver(self._linger.release())
        before_id = self._group_ids.get(before) if client.subscriptions else None
        members = self._groups.get(before)
        if members is not None and members.pop(client_id, None) is not None and not members:
            del self._groups[before]
            del self._group_ids[before]
            self._index(before, add=False)
        client.subscriptions = pairs if replace else client.subscriptions | pairs
        if explicit is not None:
            client.explicit = explicit
        group_id = None
        if client.subscriptions:
            if client.group not in self._groups:
                self._group_ids[client.group] = next(self._next_group_id)
                self._index(client.group, add=True)
            self._groups.setdefault(client.group, {})[client_id] = client
            group_id = self._group_ids[client.group]
        if group_id != before_id and client_id in self._clients:
            self._writer(client_id).tell(Regroup(client_id, group_id))

    def _index(self, group: _GroupKey, add: bool) -> None:
        for symbol, channel in group[0]:
            wanting = self._wanting[channel]
            if add:
                wanting.setdefault(symbol, set()).add(group)
            else:
                wanting[symbol].discard(group)
                if not wanting[symbol]:
                    del wanting[symbol]

    def _change(self, command: ChangeSubscriptions) -> None:
        client = self._clients.get(command.client_id)
        if client is None:
            return
        added: subscriptions.Pairs = frozenset()
        if command.op == "subscribe":
            current = client.subscriptions if client.explicit else frozenset()
            if len(current | command.pairs) > self._limits.max_subscriptions:
                limit = self._limits.max_subscriptions
                error = {
                    "type": "error",
                    "error": "too_many_subscriptions",
                    "id": command.request_id,
                    "detail": f"at most {limit} (symbol, channel) subscriptions per connection",
                }
                self._write_text(client.client_id, encoding.encode(error).decode())
                return
            added = command.pairs - current
            self._subscribe(client, current | command.pairs, replace=True, explicit=True)
        elif command.op == "unsubscribe":
            self._subscribe(client, client.subscriptions - command.pairs, replace=True, explicit=True)
        self._reply(client, command.op, command.request_id)
        if added or command.since is not None:
            self._replay(client, added if command.since is None else command.pairs, command.since, command.request_id)

    def _reply(self, client: _Client, op: str, request_id: Any) -> None:
        reply = {
            "type": _REPLY_TYPES[op],
            "id": request_id,
            "subscriptions": subscriptions.describe(client.subscriptions),
        }
        self._write_text(client.client_id, encoding.encode(reply).decode())

    def _replay(self, client: _Client, pairs: subscriptions.Pairs, since: int | None, request_id: Any = None) -> None:
        """The latest closed candle of each symbol in ``pairs`` (or all since ``since``)."""
        wanted = {symbol for symbol, channel in pairs if channel == subscriptions.CANDLE}
        symbols = self._recent.symbols() if subscriptions.ALL_SYMBOLS in wanted else sorted(wanted)
        most = replay_limit(self._limits.backlog_bytes)
        if self._recent.count(symbols, since, most) > most:
            self._rejected["replay_too_large"] += 1
            error = {
                "type": "error",
                "error": "replay_too_large",
                "id": request_id,
                "detail": f"since={since} would replay more than {most} candles at once: "
                "ask for fewer symbols or a later since; the live stream goes on",
            }
            self._write_text(client.client_id, encoding.encode(error).decode())
            return
        replayed = tuple(candle for symbol in symbols for candle in self._recent.replay(symbol, since))
        if replayed:
            self._writer(client.client_id).tell(ReplayTo(client.client_id, replayed))
            self._replayed += len(replayed)

    # --- trades ------------------------------------------------------------------------------

    def _stream_trades(self, trades: tuple[Trade, ...]) -> None:
        """One upstream read's trades: those of symbols someone wants, not sent before, by symbol."""
        wanted = self._wanting[subscriptions.TRADE]
        if not wanted:
            return
        every_symbol = subscriptions.ALL_SYMBOLS in wanted
        fresh: dict[str, list[Trade]] = {}
        for trade in trades:
            if every_symbol or trade.symbol in wanted:
                ids = self._trade_ids.get(trade.symbol)
                if ids is None:
                    ids = self._trade_ids[trade.symbol] = TradeIds()
                if ids.add(trade.trade_id, trade.last_trade_id, trade.time):
                    fresh.setdefault(trade.symbol, []).append(trade)
        for symbol, symbol_trades in fresh.items():
            self._trade_ids[symbol].keep_newest(TRADE_ID_RANGES)
            self._pace_trades(symbol, tuple(symbol_trades))

    def _pace_trades(self, symbol: str, trades: tuple[Trade, ...]) -> None:
        held = self._held_trades.get(symbol)
        if held is not None:
            held.extend(trades)
            return
        now = self._clock()
        if now - self._trades_sent_at.get(symbol, -1e9) >= self._trade_interval_s:
            self._send_trades(symbol, trades, now)
        else:
            self._held_trades[symbol] = list(trades)

    def _flush_trades(self) -> None:
        now = self._clock()
        for symbol in [s for s in self._held_trades if now - self._trades_sent_at[s] >= self._trade_interval_s]:
            self._send_trades(symbol, tuple(self._held_trades.pop(symbol)), now)

    def _send_trades(self, symbol: str, trades: tuple[Trade, ...], now: float) -> None:
        if trades:
            self._trades_sent_at[symbol] = now
            self._fan_out(symbol, subscriptions.TRADE, encoding.trades_event(symbol, trades), TRADE, trades=len(trades))

    # --- delivery ----------------------------------------------------------------------------

    def _has_subscribers(self, symbol: str, channel: str) -> bool:
        wanting = self._wanting[channel]
        return symbol in wanting or subscriptions.ALL_SYMBOLS in wanting

    def _outbound(self, text: str, kind: str, symbol: str, trades: int = 0) -> Outbound:
        return Outbound(bytes(self._encoder.send_data(text, fin=True)), text, kind, symbol, trades)

    def _fan_out(
        self,
        symbol: str,
        channel: str,
        text: str,
        kind: str,
        explicit_only: bool = False,
        trades: int = 0,
        second: int | None = NOT_A_CANDLE,
    ) -> None:
        """Encode once now; written to subscribers on the tick."""
        if self._has_subscribers(symbol, channel):
            self._outgoing.append(_FanOut(channel, explicit_only, self._outbound(text, kind, symbol, trades), second))

    def _publish(self) -> None:
        self._flush_trades()
        self._publish_events()
        self._write_outgoing()

    def _write_outgoing(self) -> None:
        """What goes out this tick: what need not wait and what waited once it may go."""
        outgoing, self._outgoing = self._outgoing, []
        fresh = [(fan_out, fan_out.second) for fan_out in outgoing]
        self._deliver(self._linger.take(fresh, self._clock(), self._closed_seconds.complete))

    def _deliver(self, fan_outs: list[_FanOut]) -> None:
        """Per group of clients with the same subscriptions, the frames it wants joined once,
        told to every writer."""
        batches: dict[_GroupKey, list[Outbound]] = {}
        for fan_out in fan_outs:
            for group in self._groups_wanting(fan_out):
                batches.setdefault(group, []).append(fan_out.message)
        if batches:
            published = Publish(
                tuple(
                    (self._group_ids[group], tuple(batch), b"".join(out.frame for out in batch))
                    for group, batch in batches.items()
                )
            )
            for writer in self._writers:
                writer.tell(published)

    def _groups_wanting(self, fan_out: _FanOut) -> Iterator[_GroupKey]:
        """Each group that wants the frame once (a group may name the symbol and ALL_SYMBOLS)."""
        wanting = self._wanting[fan_out.channel]
        named = wanting.get(fan_out.message.symbol, _NO_GROUPS)
        every = wanting.get(subscriptions.ALL_SYMBOLS, _NO_GROUPS)
        for group in itertools.chain(named, (group for group in every if group not in named)):
            if group[1] or not fan_out.explicit_only:
                yield group

    def _write_text(self, client_id: int, text: str) -> None:
        """One text message for one client; its writer re-encodes it if the client compresses."""
        if client_id in self._clients:
            self._writer(client_id).tell(WriteTo(client_id, (self._outbound(text, OTHER, ""),)))

    def _publish_events(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            if isinstance(event, Candle):
                self._recent.remember(event)
                self._fan_out(
                    event.symbol,
                    subscriptions.CANDLE,
                    encoding.candle_event(event),
                    CANDLE,
                    second=event.open_time // 1000,
                )
            else:
                # Clients on the implicit default expect candles only; revised candles reach them.
                self._fan_out(event.symbol, subscriptions.CANDLE, encoding.gap_event(event), OTHER, explicit_only=True)

    def _tick_writers(self) -> None:
        self._ticks += 1
        report = self._ticks % REPORT_TICKS == 0
        for index, writer in enumerate(self._writers):
            counters = self._writer_counters.get(index)
            if report or counters is None or counters.busy:
                writer.tell(WriterTick(report))

    def _stats(self) -> BroadcastStats:
        """Delivery counters as the writers last reported them: every 100 ms when changed, and at once
        when a writer's backlogs or closing clients start or end."""
        reported = self._writer_counters.values()
        return BroadcastStats(
            clients=len(self._clients),
            delivered=sum(c.delivered for c in reported),
            writes=sum(c.writes for c in reported),
            replayed=self._replayed,
            conflated=sum(c.conflated for c in reported),
            trades_dropped=sum(c.trades_dropped for c in reported),
            evicted_slow_clients=self._evicted,
            backlogged_clients=sum(c.backlogged_clients for c in reported),
            backlog_bytes=sum(c.backlog_bytes for c in reported),
            rejected=dict(self._rejected),
            disconnects=dict(self._gone),
            # For the fan-out's cost per message.
            cpu_s=CpuSeconds(
                broadcaster=round(time.thread_time(), 3), writers=round(sum(c.cpu_s for c in reported), 3)
            ),
        )
