"""Clients grouped by what they want: clients with the same subscriptions (and the same explicit
flag) receive the same bytes, so a frame is joined once per group, not per client. Each group
has a number, which is how writers know it, and an index from (channel, symbol) to the groups
wanting it, so a frame finds its groups without a look at every group."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Collection, Iterable, Iterator

from candlecast.fanout.frames import Outbound
from candlecast.fanout.subscriptions import ALL_SYMBOLS, CANDLE, TRADE, Channel, Pairs
from candlecast.messages.fanout import GroupFrames

# A group: its subscriptions, and whether they were chosen (rather than the implicit default).
GroupKey = tuple[Pairs, bool]
_NO_GROUPS: frozenset[GroupKey] = frozenset()
_NOTHING: Pairs = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class FanOut:
    """A frame for every group that wants its symbol on ``channel``; with ``explicit_only``
    (gap events) not for groups on the implicit default."""

    channel: Channel
    frame: Outbound
    explicit_only: bool = False


class SubscriptionGroups:
    def __init__(self) -> None:
        self._clients: dict[int, GroupKey] = {}
        self._members: dict[GroupKey, int] = {}  # group -> how many clients it has
        # Compared by value, two equal sets of pairs cost a comparison of every pair on each
        # lookup: writers get a number instead.
        self._ids: dict[GroupKey, int] = {}
        self._next_id = itertools.count()
        self._wanting: dict[str, dict[str, set[GroupKey]]] = {CANDLE: {}, TRADE: {}}

    def __contains__(self, client_id: int) -> bool:
        return client_id in self._clients

    def join(self, client_id: int, *, explicit: bool) -> None:
        """A new client, subscribed to nothing yet."""
        self._clients[client_id] = (_NOTHING, explicit)

    def leave(self, client_id: int) -> None:
        key = self._clients.pop(client_id, None)
        if key is not None:
            self._leave_group(key)

    def subscriptions(self, client_id: int) -> Pairs:
        return self._clients[client_id][0]

    def explicit(self, client_id: int) -> bool:
        return self._clients[client_id][1]

    def group_of(self, client_id: int) -> int | None:
        """The number of the client's group; None while it is subscribed to nothing."""
        key = self._clients[client_id]
        return self._ids[key] if key[0] else None

    def move(self, client_id: int, pairs: Pairs, *, explicit: bool | None = None) -> int | None:
        """Set the client's subscriptions (and with ``explicit`` its flag); its group's number now.
        A group left empty is gone: joined again, it has a new number."""
        subscriptions, was_explicit = self._clients[client_id]
        self._leave_group((subscriptions, was_explicit))
        key = (pairs, was_explicit if explicit is None else explicit)
        self._clients[client_id] = key
        if not pairs:
            return None
        if key not in self._members:
            self._members[key] = 0
            self._ids[key] = next(self._next_id)
            self._index(key, add=True)
        self._members[key] += 1
        return self._ids[key]

    def wants(self, symbol: str, channel: Channel) -> bool:
        wanting = self._wanting[channel]
        return symbol in wanting or ALL_SYMBOLS in wanting

    def symbols_wanted(self, channel: Channel) -> Collection[str]:
        """The symbols some group wants on ``channel``, ``ALL_SYMBOLS`` among them."""
        return self._wanting[channel].keys()

    def frames_by_group(self, fan_outs: Iterable[FanOut]) -> tuple[GroupFrames, ...]:
        """For each group that wants any of ``fan_outs``, the frames it wants, in order, and their
        bytes joined once."""
        batches: dict[GroupKey, list[Outbound]] = {}
        for fan_out in fan_outs:
            for group in self._groups_wanting(fan_out):
                batches.setdefault(group, []).append(fan_out.frame)
        return tuple(
            GroupFrames(self._ids[group], tuple(batch), b"".join(out.frame for out in batch))
            for group, batch in batches.items()
        )

    def _groups_wanting(self, fan_out: FanOut) -> Iterator[GroupKey]:
        """Each group that wants the frame once (a group may name the symbol and ALL_SYMBOLS)."""
        wanting = self._wanting[fan_out.channel]
        named = wanting.get(fan_out.frame.symbol, _NO_GROUPS)
        every = wanting.get(ALL_SYMBOLS, _NO_GROUPS)
        for group in itertools.chain(named, (group for group in every if group not in named)):
            if group[1] or not fan_out.explicit_only:
                yield group

    def _leave_group(self, key: GroupKey) -> None:
        if not key[0]:
            return
        self._members[key] -= 1
        if not self._members[key]:
            del self._members[key]
            del self._ids[key]
            self._index(key, add=False)

    def _index(self, key: GroupKey, *, add: bool) -> None:
        for symbol, channel in key[0]:
            wanting = self._wanting[channel]
            if add:
                wanting.setdefault(symbol, set()).add(key)
            else:
                wanting[symbol].discard(key)
                if not wanting[symbol]:
                    del wanting[symbol]
