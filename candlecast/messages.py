"""The vocabulary of the system: every message an actor sends or receives.

Messages are frozen, slotted structs so they can cross threads without copies or locks.
Collections inside them are tuples or frozensets for the same reason.
Messages an HTTP thread asks for (and waits on) derive from ``Query``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from candlecast.fanout.frames import Outbound
from candlecast.fanout.subscriptions import Pairs, SubscriptionOp


class Message(msgspec.Struct, frozen=True):
    """Base of every message; told, never answered."""


class Query(msgspec.Struct, frozen=True):
    """Base of every message that is asked; a failure goes back to the asker."""


# --- supervision ---------------------------------------------------------------------------


class ThreadEnded(Message):
    """An owned thread's loop ended while nobody asked it to stop; told to its owner."""

    thread: str
    cause: str


class GetComponents(Query):
    """Every component an actor owns (its threads), as ``{name: ComponentHealth}``."""


class ComponentHealth(msgspec.Struct, frozen=True):
    """One component as /health shows it: ``running``, ``restarting`` or ``failed``."""

    state: str
    restarts: int = 0
    last_error: str = ""


# --- market data ---------------------------------------------------------------------------


class MarketData(Message, gc=False):
    """Values only (strings, numbers, decimals, tuples of market data), so never part of a
    reference cycle: the garbage collector need not track them. An hour of candles per symbol
    is millions of objects with a thousand symbols, and tracked, every full collection walked
    them all (1,000 symbols at 20,000 trades/s fell behind within a minute)."""


class Trade(MarketData):
    """One exchange trade; ``time`` is the exchange's trade time in epoch milliseconds."""

    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    time: int
    buyer_is_maker: bool
    # More than 1 only for an aggTrades row recovered over REST: ``count`` consecutive trades
    # from ``trade_id`` at one price, time and side, with ``quantity`` their sum.
    count: int = 1

    @property
    def last_trade_id(self) -> int:
        return self.trade_id + self.count - 1


class TradeBatch(MarketData):
    """Consecutive trades of one symbol, in trade-id order; batching keeps mailboxes short."""

    symbol: str
    trades: tuple[Trade, ...]


class TradesArrived(MarketData):
    """Every routed trade a reader read in the last 10 ms, of any symbol, in arrival order. The
    trade channel and the latest tick follow the stream as it arrives, while
    aggregators get their symbol's trades held into larger batches. While two sockets overlap
    (one replacing the other) a trade can arrive twice; receivers that care deduplicate."""

    trades: tuple[Trade, ...]


class Candle(MarketData):
    """A closed 1-second kline, field for field as Binance publishes it.

    ``revision`` counts re-publications (0 first) after late or recovered trades changed it;
    ``complete`` is false while a gap in the symbol's trade ids may cover its second.
    """

    symbol: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal
    first_trade_id: int
    last_trade_id: int
    revision: int = 0
    complete: bool = True


class GapEvent(MarketData):
    """A gap in a symbol's trade ids opened, was repaired, or is given up as unrecoverable.

    ``last_trade_id`` is None while the end is unknown (the stream was interrupted);
    ``from_time``/``to_time`` bound the candles it may affect (``to_time`` None: up to now).
    """

    symbol: str
    kind: str
    first_trade_id: int
    last_trade_id: int | None
    from_time: int
    to_time: int | None
    detail: str = ""


class SecondElapsed(MarketData):
    """Exchange time has passed the end of ``second`` plus the grace period."""

    second: int


class ReaderBehind(Message):
    """An upstream reader behind its socket has not read past ``second`` by the grace period:
    seconds from it on of the ``symbols`` it reads may still get trades it has yet to read.
    None: it is not behind (or has stopped), and holds no symbol."""

    reader: str
    second: int | None
    symbols: frozenset[str] = frozenset()


class ClockOffsetMeasured(MarketData):
    """Exchange time minus monotonic time, from ``/api/v3/time``, and how long the request took
    (the answer was made somewhere within it)."""

    offset_ms: int
    round_trip_ms: int


class TradeClock(Message):
    """What a reader's trades of the last second say of the exchange's clock: the median of
    trade time minus monotonic arrival time. A trade is read after it is made, so the exchange's
    offset to the monotonic clock is at least about this, and more by the stream's latency."""

    reader: str
    offset_ms: int


class WallClockStepped(Message):
    """The machine's wall clock moved against the monotonic clock by ``step_ms`` between two
    wakes of the clock's timer: stepped (by NTP or by hand) or the machine was suspended."""

    step_ms: int


# --- registry ------------------------------------------------------------------------------


class AddSymbol(Query):
    symbol: str


class RemoveSymbol(Query):
    symbol: str


class ListSymbols(Query):
    """Answered with the sorted tuple of active symbols."""


class ListAvailable(Query):
    """Answered with the sorted tuple of symbols the exchange is TRADING."""


class ListHalted(Query):
    """Answered with the sorted tuple of subscribed symbols the exchange is not TRADING now."""


class GetUpstreamStatus(Query):
    """Answered with an ``UpstreamStatus``."""


class ExchangeInfoLoaded(Message):
    """The exchange's TRADING symbols, fetched by the registry's loader thread."""

    trading: frozenset[str]


class ConnectionStateChanged(Message):
    """A connection reports its state upward so REST can answer without asking it.

    Sent on every change and about once a second while frames arrive, so the registry can
    tell how long ago the last one came (``last_frame_at``: monotonic seconds, None before any).
    """

    connection_id: int
    state: str
    detail: str = ""
    rejected_frames: int = 0
    rejected_trades: int = 0
    reader_restarts: int = 0
    streams: int = 0
    last_frame_at: float | None = None
    reconnects: int = 0
    rotations: int = 0
    control_requests: int = 0
    resubscribed: int = 0


class ConnectionStatus(msgspec.Struct, frozen=True):
    """One upstream connection as GET /health shows it. ``control_requests``: SUBSCRIBE,
    UNSUBSCRIBE and LIST_SUBSCRIPTIONS sent; ``resubscribed``: streams the server's list was
    missing and that were asked for again; ``rejected_trades``: the rejected frames that were
    trades; ``reader_restarts``: times its reader thread ended unexpectedly and was replaced."""

    connection_id: int
    state: str
    detail: str
    rejected_frames: int
    symbols: tuple[str, ...]
    rejected_trades: int = 0
    reader_restarts: int = 0
    streams: int = 0
    last_frame_age_s: float | None = None
    reconnects: int = 0
    rotations: int = 0
    control_requests: int = 0
    resubscribed: int = 0


class UpstreamStatus(msgspec.Struct, frozen=True):
    """``halted``: subscribed symbols the latest exchangeInfo does not show TRADING."""

    exchange_info_loaded: bool
    connections: tuple[ConnectionStatus, ...]
    halted: tuple[str, ...] = ()

    @property
    def connected(self) -> bool:
        return any(c.state == "connected" for c in self.connections)


# --- connection ----------------------------------------------------------------------------


class Watch(Message):
    """Stream ``symbol`` and deliver its trades to ``aggregator`` (a pykka ActorRef)."""

    symbol: str
    aggregator: Any


class Unwatch(Message):
    symbol: str


class UpstreamConnected(Message):
    """Reader ``reader_id`` opened ``socket`` streaming exactly ``symbols``."""

    socket: Any
    symbols: frozenset[str]
    reader_id: int = 0


class UpstreamDisconnected(Message):
    reason: str
    reader_id: int = 0


class StreamInterrupted(Message):
    """The connection carrying ``symbol`` was lost with no replacement streaming it;
    ``silent_since_ms`` (epoch ms, when known) is when it last showed a frame: trades after
    that may be missing even from candles already published."""

    symbol: str
    silent_since_ms: int | None = None


class StreamResumed(Message):
    """``symbol`` streams again after an interruption; trades may have been missed meanwhile."""

    symbol: str


class FrameRejected(Message):
    """The reader thread dropped a malformed frame; counted by the connection. ``trade``: it
    named a trade of a symbol the reader streams, told to that symbol's aggregator as missing."""

    reason: str
    trade: bool = False


class TradeRejected(Message):
    """The reader refused trade ``trade_id`` of ``symbol`` (``reason``): told to its aggregator,
    which treats the id as missing at once, so the candles it may belong to are flagged and the
    true trade is fetched over REST."""

    symbol: str
    trade_id: int
    reason: str


class RotationDue(Message):
    """Reader ``reader_id``'s socket should be replaced: it reached its lifetime or the
    server announced ``serverShutdown``. The connection opens a new one before letting go."""

    reader_id: int
    reason: str


class FramesArriving(Message):
    """Reader ``reader_id`` received frames, the last at ``at`` (monotonic s); about once a second."""

    reader_id: int
    at: float


class FlushRequests(Message):
    """The connection's request budget has room again: send what is waiting."""


# --- clock ---------------------------------------------------------------------------------


class AggregatorsChanged(Message):
    """The complete set of aggregators the clock ticks, by symbol, replacing the previous one."""

    aggregators: tuple[tuple[str, Any], ...]


# --- backfill ------------------------------------------------------------------------------


class RequestBackfill(Message):
    """Fetch trades ``first_id``..``last_id`` of ``symbol`` over REST (``last_id`` None: up to
    now); ``after_time`` is the time of the trade before the gap. Replies go to ``reply_to``."""

    symbol: str
    first_id: int
    last_id: int | None
    after_time: int
    reply_to: Any = None


class TradesRecovered(Message):
    """One page of a backfill: every trade id from ``first_id`` to ``through_id`` is in
    ``trades`` (ids are consecutive); ``finished`` when the request is fully answered."""

    symbol: str
    first_id: int
    trades: tuple[Trade, ...]
    through_id: int
    finished: bool


class BackfillFailed(Message):
    symbol: str
    first_id: int
    reason: str


class GetClockStats(Query):
    """Answered with a dict: upstream readers behind their socket, the seconds due to close
    that wait for them, and how the exchange's clock is known (offset, refusals, steps)."""


class GetBackfillStats(Query):
    """Answered with a dict: requests, pages, trades recovered, failures, REST weight used."""


# --- store ---------------------------------------------------------------------------------


class SymbolActivated(Message):
    symbol: str


class SymbolDeactivated(Message):
    symbol: str


class GetLatestCandle(Query):
    """Answered with the latest closed candle's JSON body as REST serves it, encoded once per candle;
    REST asks only what ``Latest`` does not have, for the error that says why."""

    symbol: str


class GetCandles(Query):
    symbol: str
    limit: int


class GetTick(Query):
    symbol: str


class Barrier(Query):
    """Answered once the actor has handled every message told to it before: the asker then sees
    what those messages did."""


class GetGapStats(Query):
    """Answered with {symbol: {"opened", "recovered", "unrecoverable", "open"}}."""


class GetHistoryStats(Query):
    """Answered with {"symbols", "candles"}: the closed candles the store keeps."""


# --- broadcaster ---------------------------------------------------------------------------


class ClientConnected(Message):
    """A WebSocket client finished its handshake. The broadcaster admits it and passes this on
    to the client's writer, which takes over the writing half of ``sock`` (non-blocking) and
    ``encoder`` (the client's own frame encoder when it negotiated compression, else None). It
    gets the latest closed candle of each subscribed symbol at once, or every one since ``since``."""

    client_id: int
    sock: Any
    peer: str
    subscriptions: Pairs
    since: int | None = None
    encoder: Any = None


class ClientControl(Message):
    """A control frame (pong, ping) the client reader wants written to a client, in order."""

    client_id: int
    frame: bytes


class ClientNotice(Message):
    """A message for one client from the reader (an error answering a bad command)."""

    client_id: int
    text: str


class ClientGone(Message):
    """The reader has stopped reading ``client_id``: the broadcaster forgets it and its writer
    writes ``farewell`` (a close frame, or nothing) and closes the socket, which no other
    thread touches now."""

    client_id: int
    reason: str
    farewell: bytes = b""


class ChangeSubscriptions(Message):
    """A client's subscribe/unsubscribe/list command, already validated."""

    client_id: int
    op: SubscriptionOp
    pairs: Pairs
    request_id: Any = None
    since: int | None = None


class BroadcastTick(Message):
    """Time to send the trades held back to pace the trade channel and what waited for the
    rest of its second."""


class WriterTick(Message):
    """Time to retry the backlogs of clients whose sockets were full, and with ``report`` to
    report the counters. A writer with no backlog and no client closing gets only the ticks
    that report: every tick woke each writer a hundred times a second for nothing."""

    report: bool


class GroupFrames(msgspec.Struct, frozen=True):
    """The frames published to one group of identically subscribed clients (``group``, its
    number) and their bytes joined once, written to each of its clients in one write."""

    group: int
    frames: tuple[Outbound, ...]
    joined: bytes


class Publish(Message):
    """What the broadcaster fans out at one tick (or once a second is complete), for every
    writer: the frames of each group of clients that wants any."""

    groups: tuple[GroupFrames, ...]


class Regroup(Message):
    """A client's subscriptions changed: from now on it gets what is published for the group
    numbered ``group`` (None: nothing)."""

    client_id: int
    group: int | None


class WriteTo(Message):
    """Frames for one client alone: replies, notices. They follow everything published to it
    before."""

    client_id: int
    frames: tuple[Outbound, ...]


class ReplayTo(Message):
    """Closed candles for one client alone, oldest first per symbol, after everything published
    to it before; its writer encodes them as the client reads."""

    client_id: int
    candles: tuple[Candle, ...]


class CloseClient(Message):
    """The broadcaster closes a client (over a limit, shutting down) with ``code``; its writer
    sends the close frame."""

    client_id: int
    code: int
    reason: str


class WalkOn(Message):
    """A writer's cue to itself: write to the next slice of its clients."""


class UpgradeRefused(Message):
    """The WebSocket port answered a connection 429 without reading its request: its address
    already had its share of the request threads in progress."""

    peer: str


class ClientEvicted(Message):
    """A writer closed a client too slow for the backlog policy (1008)."""

    client_id: int
    reason: str


class WriterCounters(Message):
    """A writer's delivery counters and backlogs, sent to the broadcaster when they change;
    ``cpu_s`` is the CPU its thread has used (sending is most of the fan-out's cost)."""

    writer: int
    delivered: int
    writes: int
    conflated: int
    trades_dropped: int
    backlogged_clients: int
    backlog_bytes: int
    cpu_s: float
    busy: bool  # clients backlogged or closing: it wants every tick


class DisconnectAll(Message):
    """Close every client with ``code``; sent when the bridge shuts down."""

    code: int
    reason: str


class GetBroadcastStats(Query):
    """Answered with a dict of client and delivery counters."""
