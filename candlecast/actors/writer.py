"""A writer owns the writing half of a share of the WebSocket clients (their ``Consumer``s).

The broadcaster owns subscriptions and encoding; on each tick it tells every writer one
``Publish`` holding, per group of identically subscribed clients, the frames and their bytes
joined once. A writer walks its clients in a cycle, a slice at a time, and gives each client
everything published for its group since its last visit in one write. A cycle walks only the
clients of groups published to since the previous one began: trades for the few clients that
want them do not walk everyone else every tick. Its mailbox is read between slices, so what is
published mid-cycle reaches the clients not yet visited in that cycle and the others in the
next: a frame waits at most about one cycle, and a cycle carries everything published while
the previous one ran. Sending releases the GIL and loopback TCP
work is kernel time, so several writers walk their shares at once.

Anything for one client alone (replies, replays, control frames) first gives it what was
published to it before, so each client's stream stays in the order the broadcaster sent it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from wsproto.frame_protocol import FrameProtocol

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.fanout.outbox import SLOW_CLIENT_CLOSE_CODE, Consumer, DeliveryCounters, Outbound
from candlecast.messages.fanout import (
    ClientConnected,
    ClientControl,
    ClientEvicted,
    ClientGone,
    CloseClient,
    Publish,
    Regroup,
    ReplayTo,
    WalkOn,
    WriterCounters,
    WriterTick,
    WriteTo,
)

# Clients written between two looks at the mailbox: about 2-5 ms of sending.
SLICE = 256

Batch = tuple[tuple[Outbound, ...], bytes]
_NOTHING: Batch = ((), b"")


@dataclasses.dataclass(slots=True)
class _Written:
    consumer: Consumer
    group: int | None  # None: subscribed to nothing
    seen: int  # the last publish this client has been given
    gone: bool = False


class WriterActor(Actor):
    def __init__(
        self,
        index: int,
        broadcaster: Any,
        backlog_bytes: int,
        stall_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(actor="writer", writer=index)
        self._index = index
        self._broadcaster = broadcaster
        self._backlog_bytes = backlog_bytes
        self._stall_timeout_s = stall_timeout_s
        self._clock = clock
        self._encoder = FrameProtocol(client=False, extensions=[])
        self._clients: dict[int, _Written] = {}
        self._closing: dict[int, Consumer] = {}  # closed by us, socket still held by the reader
        self._backlogged: dict[int, Consumer] = {}
        self._members: dict[int, dict[int, _Written]] = {}  # group -> its clients of ours, by id
        self._published = 0
        self._chunks: dict[int, list[tuple[int, tuple[Outbound, ...], bytes]]] = {}  # group -> (publish, frames, bytes)
        self._due: dict[tuple[int, int], Batch] = {}  # (group, seen) -> what such a client is owed now
        self._fresh: set[int] = set()  # groups published to since the current cycle began
        self._cycle: list[_Written] = []
        self._cursor = 0
        self._cycle_from = 0  # every client has every publish up to this one once the cycle ends
        self._walking = False
        self._counters = DeliveryCounters()
        self._reported: WriterCounters | None = None

    def on_stop(self) -> None:
        for client in self._clients.values():
            client.consumer.release()
        for consumer in self._closing.values():
            consumer.release()

    def handle(self, message: Any) -> Any:
        match message:
            case Publish(groups=groups):
                # Others' groups only (trades for a few subscribers, say): no cycle over our clients.
                ours = [published for published in groups if published[0] in self._members]
                if not ours:
                    return None
                self._published += 1
                for group, batch, joined in ours:
                    self._chunks.setdefault(group, []).append((self._published, batch, joined))
                    self._fresh.add(group)
                self._due.clear()
                if not self._walking:
                    self._start_cycle()
            case WalkOn():
                self._walk_on()
            case ClientConnected():
                self._connect(message)
            case Regroup(client_id=client_id, group=group):
                if (client := self._caught_up(client_id)) is not None:
                    self._regroup(client, group)
            case WriteTo(client_id=client_id, batch=batch):
                if (client := self._caught_up(client_id)) is not None:
                    self._send_batch(client.consumer, batch, b"".join(out.frame for out in batch))
            case ReplayTo(client_id=client_id, candles=candles):
                if (client := self._caught_up(client_id)) is not None:
                    client.consumer.replay(candles)
                    self._note_backlog(client.consumer)
            case ClientControl(client_id=client_id, frame=frame):
                if (client := self._caught_up(client_id)) is not None:
                    client.consumer.send(frame)
                    self._note_backlog(client.consumer)
            case CloseClient(client_id=client_id, code=code, reason=reason):
                self._close(client_id, code, reason)
            case ClientGone(client_id=client_id, farewell=farewell):
                self._gone_away(client_id, farewell)
            case WriterTick(report=report):
                self._retry_backlogs()
                if report:
                    self._report()
        if self._reported is not None and self._busy != self._reported.busy:
            self._report()  # the broadcaster ticks a busy writer every tick, an idle one only to report
        return None

    @property
    def _busy(self) -> bool:
        return bool(self._backlogged or self._closing)

    # --- clients -----------------------------------------------------------------------------

    def _connect(self, joined: ClientConnected) -> None:
        compressed = joined.encoder is not None
        consumer = Consumer(
            joined.client_id,
            joined.sock,
            joined.peer,
            encoder=joined.encoder if compressed else self._encoder,
            compressed=compressed,
            backlog_limit=self._backlog_bytes,
            stall_timeout_s=self._stall_timeout_s,
            counters=self._counters,
            clock=self._clock,
        )
        # What was published before it connected is not for it.
        self._clients[joined.client_id] = _Written(consumer, None, self._published)

    def _caught_up(self, client_id: int) -> _Written | None:
        """The client, given first what was published to it before; None once it is gone."""
        client = self._clients.get(client_id)
        if client is not None:
            self._visit(client)
        return client

    def _close(self, client_id: int, code: int, reason: str) -> None:
        """Close a client from our side; its socket stays ours until the reader lets go."""
        client = self._forget(client_id)
        if client is not None:
            client.consumer.close(code, reason)
            self._closing[client_id] = client.consumer

    def _forget(self, client_id: int) -> _Written | None:
        client = self._clients.pop(client_id, None)
        if client is not None:
            client.gone = True
            self._regroup(client, None)
            self._backlogged.pop(client_id, None)
        return client

    def _regroup(self, client: _Written, group: int | None) -> None:
        if client.group is not None:
            members = self._members[client.group]
            del members[client.consumer.client_id]
            if not members:
                del self._members[client.group]
        client.group = group
        if group is not None:
            self._members.setdefault(group, {})[client.consumer.client_id] = client

    def _gone_away(self, client_id: int, farewell: bytes) -> None:
        consumer = self._closing.pop(client_id, None)
        if consumer is None and (client := self._forget(client_id)) is not None:
            consumer = client.consumer
            consumer.say_goodbye(farewell)
        if consumer is not None:
            consumer.release()

    # --- writing -----------------------------------------------------------------------------

    def _start_cycle(self) -> None:
        fresh, self._fresh = self._fresh, set()
        # Found by group: a group of a few (trade subscribers, say) published to every tick
        # does not look at every client every tick.
        self._cycle = [client for group in fresh if group in self._members for client in self._members[group].values()]
        self._cursor = 0
        self._cycle_from = self._published
        self._walking = True
        self.actor_ref.tell(WalkOn())

    def _walk_on(self) -> None:
        end = self._cursor + SLICE
        for client in self._cycle[self._cursor : end]:
            if not client.gone:
                self._visit(client)
        self._cursor = end
        if end < len(self._cycle):
            self.actor_ref.tell(WalkOn())
            return
        # Every member of a group with chunks up to _cycle_from was in this cycle.
        self._forget_delivered(self._cycle_from)
        if self._published > self._cycle_from:
            self._start_cycle()
        else:
            self._walking = False
            self._cycle = []

    def _visit(self, client: _Written) -> None:
        """Give the client, in one write, what was published for its group since its last visit."""
        if client.seen == self._published:
            return
        if client.group is not None:
            batch, joined = self._owed(client.group, client.seen)
            if batch:
                self._send_batch(client.consumer, batch, joined)
        client.seen = self._published

    def _owed(self, group: int, seen: int) -> Batch:
        """Joined once per (group, last publish seen) between two publishes, not per client."""
        key = (group, seen)
        owed = self._due.get(key)
        if owed is None:
            chunks = [chunk for chunk in self._chunks.get(group, ()) if chunk[0] > seen]
            if len(chunks) == 1:  # the usual case, and with a group per client the only one worth sparing
                owed = chunks[0][1:]
            elif chunks:
                owed = (
                    tuple(out for _, batch, _ in chunks for out in batch),
                    b"".join(joined for _, _, joined in chunks),
                )
            else:
                owed = _NOTHING
            self._due[key] = owed
        return owed

    def _forget_delivered(self, upto: int) -> None:
        for group in list(self._chunks):
            kept = [chunk for chunk in self._chunks[group] if chunk[0] > upto]
            if kept:
                self._chunks[group] = kept
            else:
                del self._chunks[group]
        self._due.clear()

    def _send_batch(self, consumer: Consumer, batch: tuple[Outbound, ...], joined: bytes) -> None:
        consumer.send_batch(batch, joined)
        self._note_backlog(consumer)

    def _note_backlog(self, consumer: Consumer) -> None:
        if consumer.backlogged:
            self._backlogged[consumer.client_id] = consumer

    def _retry_backlogs(self) -> None:
        now = self._clock()
        for client_id, consumer in list(self._backlogged.items()):
            consumer.flush()
            if not consumer.backlogged:
                del self._backlogged[client_id]
            elif (reason := consumer.overdue(now)) is not None:
                self.log.warning("slow websocket client dropped", client_id=client_id, reason=reason)
                self._close(client_id, SLOW_CLIENT_CLOSE_CODE, reason)
                tell_if_alive(self._broadcaster, ClientEvicted(client_id, reason))
        for consumer in self._closing.values():
            consumer.flush()
            consumer.cut_if_lingering(now)

    def _report(self) -> None:
        counters = WriterCounters(
            writer=self._index,
            delivered=self._counters.delivered,
            writes=self._counters.writes,
            conflated=self._counters.conflated,
            trades_dropped=self._counters.trades_dropped,
            backlogged_clients=len(self._backlogged),
            backlog_bytes=sum(c.backlog_bytes for c in self._backlogged.values()),
            cpu_s=round(time.thread_time(), 3),
            busy=self._busy,
        )
        if counters != self._reported:
            self._reported = counters
            tell_if_alive(self._broadcaster, counters)
