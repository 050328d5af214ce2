"""A writer owns the writing half of a share of the WebSocket clients (their ``Outbox``es).

The broadcaster decides who gets what; a writer walks the clients of the groups published to,
a slice at a time, reading its mailbox between slices, and gives each client everything owed
to it in one write, so a slow client never delays the others and several writers send at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from wsproto.frame_protocol import FrameProtocol

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.fanout.frames import Outbound
from candlecast.fanout.outbox import DeliveryCounters, Outbox
from candlecast.http.close_codes import CloseCode
from candlecast.messages.fanout import (
    ClientConnected,
    ClientControl,
    ClientEvicted,
    ClientGone,
    CloseClient,
    GroupFrames,
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


@dataclasses.dataclass(slots=True)
class _Client:
    outbox: Outbox
    group: int | None  # None: subscribed to nothing
    seen: int  # the last publish this client has been given
    gone: bool = False


class WriterActor(Actor):
    def __init__(
        self,
        index: int,
        broadcaster: Any,
        *,
        backlog_bytes: int,
        stall_timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(actor="writer", writer=index)
        self._index = index
        self._broadcaster = broadcaster
        self._backlog_bytes = backlog_bytes
        self._stall_timeout_s = stall_timeout_s
        self._monotonic = monotonic
        self._encoder = FrameProtocol(client=False, extensions=[])
        self._clients: dict[int, _Client] = {}
        self._closing: dict[int, Outbox] = {}  # closed by us, socket still held by the reader
        self._backlogged: dict[int, Outbox] = {}
        self._members: dict[int, dict[int, _Client]] = {}  # group -> its clients of ours, by id
        self._published = 0
        self._chunks: dict[int, list[tuple[int, GroupFrames]]] = {}  # group -> (publish number, its frames)
        self._due: dict[tuple[int, int], GroupFrames] = {}  # (group, seen) -> what such a client is owed now
        self._fresh: set[int] = set()  # groups published to since the current cycle began
        self._cycle: list[_Client] = []
        self._cursor = 0
        self._cycle_from = 0  # every client has every publish up to this one once the cycle ends
        self._walking = False
        self._counters = DeliveryCounters()
        self._reported: WriterCounters | None = None

    def on_stop(self) -> None:
        for client in self._clients.values():
            client.outbox.release()
        for outbox in self._closing.values():
            outbox.release()

    def handle(self, message: Any) -> Any:
        match message:
            case Publish(groups=groups):
                self._take(groups)
            case WalkOn():
                self._walk_on()
            case WriterTick(report=report):
                self._retry_backlogs()
                if report:
                    self._report()
            case ClientConnected():
                self._connect(message)
            case Regroup() | WriteTo() | ReplayTo() | ClientControl():
                if (client := self._caught_up(message.client_id)) is not None:
                    self._for_client(client, message)
            case CloseClient(client_id=client_id, code=code, reason=reason):
                self._close(client_id, code, reason)
            case ClientGone(client_id=client_id, farewell=farewell):
                self._gone_away(client_id, farewell)
        if self._reported is not None and self._busy != self._reported.busy:
            self._report()  # the broadcaster ticks a busy writer every tick, an idle one only to report
        return None

    def _take(self, groups: tuple[GroupFrames, ...]) -> None:
        """A publish: the groups of our clients among it join the cycle."""
        # Others' groups only (trades for a few subscribers, say): no cycle over our clients.
        ours = [published for published in groups if published.group in self._members]
        if not ours:
            return
        self._published += 1
        for published in ours:
            self._chunks.setdefault(published.group, []).append((self._published, published))
            self._fresh.add(published.group)
        self._due.clear()
        if not self._walking:
            self._start_cycle()

    def _for_client(self, client: _Client, message: Regroup | WriteTo | ReplayTo | ClientControl) -> None:
        """Something for one client alone, once it has what was published to it before."""
        match message:
            case Regroup(group=group):
                self._regroup(client, group)
            case WriteTo(frames=frames):
                self._send_batch(client.outbox, frames, b"".join(out.frame for out in frames))
            case ReplayTo(candles=candles):
                client.outbox.replay(candles)
                self._note_backlog(client.outbox)
            case ClientControl(frame=frame):
                client.outbox.send(frame)
                self._note_backlog(client.outbox)

    @property
    def _busy(self) -> bool:
        return bool(self._backlogged or self._closing)

    # --- clients -----------------------------------------------------------------------------

    def _connect(self, joined: ClientConnected) -> None:
        compressed = joined.encoder is not None
        outbox = Outbox(
            client_id=joined.client_id,
            sock=joined.sock,
            peer=joined.peer,
            encoder=joined.encoder if compressed else self._encoder,
            compressed=compressed,
            backlog_limit=self._backlog_bytes,
            stall_timeout_s=self._stall_timeout_s,
            counters=self._counters,
            monotonic=self._monotonic,
        )
        # What was published before it connected is not for it.
        self._clients[joined.client_id] = _Client(outbox, None, self._published)

    def _caught_up(self, client_id: int) -> _Client | None:
        """The client, given first what was published to it before; None once it is gone."""
        client = self._clients.get(client_id)
        if client is not None:
            self._visit(client)
        return client

    def _close(self, client_id: int, code: CloseCode, reason: str) -> None:
        """Close a client from our side; its socket stays ours until the reader lets go."""
        client = self._forget(client_id)
        if client is not None:
            client.outbox.close(code, reason)
            self._closing[client_id] = client.outbox

    def _forget(self, client_id: int) -> _Client | None:
        client = self._clients.pop(client_id, None)
        if client is not None:
            client.gone = True
            self._regroup(client, None)
            self._backlogged.pop(client_id, None)
        return client

    def _regroup(self, client: _Client, group: int | None) -> None:
        if client.group is not None:
            members = self._members[client.group]
            del members[client.outbox.client_id]
            if not members:
                del self._members[client.group]
        client.group = group
        if group is not None:
            self._members.setdefault(group, {})[client.outbox.client_id] = client

    def _gone_away(self, client_id: int, farewell: bytes) -> None:
        outbox = self._closing.pop(client_id, None)
        if outbox is None and (client := self._forget(client_id)) is not None:
            outbox = client.outbox
            outbox.say_goodbye(farewell)
        if outbox is not None:
            outbox.release()

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

    def _visit(self, client: _Client) -> None:
        """Give the client, in one write, what was published for its group since its last visit."""
        if client.seen == self._published:
            return
        if client.group is not None:
            owed = self._owed(client.group, client.seen)
            if owed.frames:
                self._send_batch(client.outbox, owed.frames, owed.joined)
        client.seen = self._published

    def _owed(self, group: int, seen: int) -> GroupFrames:
        """Joined once per (group, last publish seen) between two publishes, not per client."""
        key = (group, seen)
        owed = self._due.get(key)
        if owed is None:
            chunks = [published for number, published in self._chunks.get(group, ()) if number > seen]
            if len(chunks) == 1:  # the usual case, and with a group per client the only one worth sparing
                owed = chunks[0]
            else:
                owed = GroupFrames(
                    group,
                    tuple(out for published in chunks for out in published.frames),
                    b"".join(published.joined for published in chunks),
                )
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

    def _send_batch(self, outbox: Outbox, frames: tuple[Outbound, ...], joined: bytes) -> None:
        outbox.send_batch(frames, joined)
        self._note_backlog(outbox)

    def _note_backlog(self, outbox: Outbox) -> None:
        if outbox.backlogged:
            self._backlogged[outbox.client_id] = outbox

    def _retry_backlogs(self) -> None:
        now = self._monotonic()
        for client_id, outbox in list(self._backlogged.items()):
            outbox.flush()
            if not outbox.backlogged:
                del self._backlogged[client_id]
            elif (reason := outbox.overdue(now)) is not None:
                self.log.warning("slow websocket client dropped", client_id=client_id, reason=reason)
                self._close(client_id, CloseCode.POLICY_VIOLATION, reason)
                tell_if_alive(self._broadcaster, ClientEvicted(client_id, reason))
        for outbox in self._closing.values():
            outbox.flush()
            outbox.cut_if_lingering(now)

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
