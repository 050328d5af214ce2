"""Which trade ids of one symbol have arrived, as sorted disjoint ranges.

Binance numbers a symbol's trades consecutively, so in steady state this is one range growing
at its end; a hole between ranges is trades not received (yet). Each range remembers the times
of its end trades, which bound the seconds a hole can touch. Pure data, inside one aggregator.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import NamedTuple


class Hole(NamedTuple):
    first_id: int
    last_id: int
    after_time: int  # time of trade first_id - 1
    before_time: int  # time of trade last_id + 1


class TradeIds:
    __slots__ = ("_firsts", "_ranges")

    def __init__(self) -> None:
        self._firsts: list[int] = []  # first id of each range, kept parallel to _ranges for bisect
        self._ranges: list[list[int]] = []  # [first_id, first_time, last_id, last_time]

    @property
    def newest(self) -> tuple[int, int] | None:
        """(id, time) of the highest trade id seen."""
        if not self._ranges:
            return None
        last = self._ranges[-1]
        return last[2], last[3]

    def add(self, first_id: int, last_id: int, time: int) -> bool:
        """Record ids ``first_id``..``last_id`` (all at ``time``); False if any was already seen."""
        ranges = self._ranges
        if ranges and first_id == ranges[-1][2] + 1:
            ranges[-1][2] = last_id
            ranges[-1][3] = time
            return True
        index = bisect.bisect_right(self._firsts, last_id)
        if index > 0 and ranges[index - 1][2] >= first_id:
            return False
        joins_left = index > 0 and ranges[index - 1][2] == first_id - 1
        joins_right = index < len(ranges) and ranges[index][0] == last_id + 1
        if joins_left and joins_right:
            ranges[index - 1][2:4] = ranges[index][2:4]
            del ranges[index], self._firsts[index]
        elif joins_left:
            ranges[index - 1][2:4] = [last_id, time]
        elif joins_right:
            ranges[index][0:2] = [first_id, time]
            self._firsts[index] = first_id
        else:
            ranges.insert(index, [first_id, time, last_id, time])
            self._firsts.insert(index, first_id)
        return True

    def covers(self, first_id: int, last_id: int) -> bool:
        """Every id in ``first_id``..``last_id`` has been seen (an empty span is covered)."""
        if last_id < first_id:
            return True
        index = bisect.bisect_right(self._firsts, first_id) - 1
        return index >= 0 and self._ranges[index][2] >= last_id

    def holes(self) -> Iterator[Hole]:
        for before, after in itertools.pairwise(self._ranges):
            yield Hole(before[2] + 1, after[0] - 1, before[3], after[1])

    def fill(self, first_id: int, last_id: int) -> None:
        """Treat a hole as closed (given up on), so it is not reported again."""
        index = bisect.bisect_right(self._firsts, first_id) - 1
        while index + 1 < len(self._ranges) and self._ranges[index + 1][0] <= last_id + 1:
            self._ranges[index][2:4] = self._ranges[index + 1][2:4]
            del self._ranges[index + 1], self._firsts[index + 1]

    def keep_newest(self, ranges: int) -> None:
        """Forget all but the newest ``ranges`` ranges: what a bounded memory of ids can afford."""
        if len(self._ranges) > ranges:
            del self._ranges[:-ranges], self._firsts[:-ranges]
