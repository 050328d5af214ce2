"""What passes between the WebSocket bridge's threads, the broadcaster and the writers."""

from __future__ import annotations

from typing import Any

import msgspec

from candlecast.fanout.frames import Outbound
from candlecast.fanout.subscriptions import Pairs, SubscriptionOp
from candlecast.http.close_codes import CloseCode
from candlecast.market_data import Candle
from candlecast.messages.base import Message, Query


class ClientConnected(Message, frozen=True):
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


class ClientControl(Message, frozen=True):
    """A control frame (pong, ping) the client reader wants written to a client, in order."""

    client_id: int
    frame: bytes


class ClientNotice(Message, frozen=True):
    """A message for one client from the reader (an error answering a bad command)."""

    client_id: int
    text: str


class ClientGone(Message, frozen=True):
    """The reader has stopped reading ``client_id``: the broadcaster forgets it and its writer
    writes ``farewell`` (a close frame, or nothing) and closes the socket, which no other
    thread touches now."""

    client_id: int
    reason: str
    farewell: bytes = b""


class ChangeSubscriptions(Message, frozen=True):
    """A client's subscribe/unsubscribe/list command, already validated."""

    client_id: int
    op: SubscriptionOp
    pairs: Pairs
    request_id: Any = None
    since: int | None = None


class BroadcastTick(Message, frozen=True):
    """Time to send the trades held back to pace the trade channel and what waited for the
    rest of its second."""


class WriterTick(Message, frozen=True):
    """Time to retry the backlogs of clients whose sockets were full, and with ``report`` to
    report the counters. A writer with no backlog and no client closing gets only the ticks
    that report, so an idle writer is not woken every tick."""

    report: bool


class GroupFrames(msgspec.Struct, frozen=True):
    """The frames published to one group of identically subscribed clients (``group``, its
    number) and their bytes joined once, written to each of its clients in one write."""

    group: int
    frames: tuple[Outbound, ...]
    joined: bytes


class Publish(Message, frozen=True):
    """What the broadcaster fans out at one tick (or once a second is complete), for every
    writer: the frames of each group of clients that wants any."""

    groups: tuple[GroupFrames, ...]


class Regroup(Message, frozen=True):
    """A client's subscriptions changed: from now on it gets what is published for the group
    numbered ``group`` (None: nothing)."""

    client_id: int
    group: int | None


class WriteTo(Message, frozen=True):
    """Frames for one client alone: replies, notices. They follow everything published to it
    before."""

    client_id: int
    frames: tuple[Outbound, ...]


class ReplayTo(Message, frozen=True):
    """Closed candles for one client alone, oldest first per symbol, after everything published
    to it before; its writer encodes them as the client reads."""

    client_id: int
    candles: tuple[Candle, ...]


class CloseClient(Message, frozen=True):
    """The broadcaster closes a client (over a limit, shutting down) with ``code``; its writer
    sends the close frame."""

    client_id: int
    code: CloseCode
    reason: str


class WalkOn(Message, frozen=True):
    """A writer's cue to itself: write to the next slice of its clients."""


class UpgradeRefused(Message, frozen=True):
    """The WebSocket port answered a connection 429 without reading its request: its address
    already had its share of the request threads in progress."""

    peer: str


class ClientEvicted(Message, frozen=True):
    """A writer closed a client too slow for the backlog policy (1008)."""

    client_id: int
    reason: str


class WriterCounters(Message, frozen=True):
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


class DisconnectAll(Message, frozen=True):
    """Close every client with ``code``; sent when the bridge shuts down."""

    code: CloseCode
    reason: str


class CpuSeconds(msgspec.Struct, frozen=True):
    """CPU seconds the fan-out's threads have used since they started."""

    broadcaster: float
    writers: float


class BroadcastStats(msgspec.Struct, frozen=True):
    """The WebSocket clients and what was delivered to them, for /health: delivery counters as
    the writers last reported them; ``rejected`` and ``disconnects`` count by reason."""

    clients: int
    delivered: int
    writes: int
    replayed: int
    conflated: int
    trades_dropped: int
    evicted_slow_clients: int
    backlogged_clients: int
    backlog_bytes: int
    rejected: dict[str, int]
    disconnects: dict[str, int]
    cpu_s: CpuSeconds


class GetBroadcastStats(Query, frozen=True):
    """Answered with ``BroadcastStats``."""
