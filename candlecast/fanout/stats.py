"""The fan-out's counters for ``/health``: the broadcaster's own (replays, refusals, clients
gone and evicted) and the delivery counters its writers last reported, added up."""

from __future__ import annotations

import collections
from typing import Literal

from candlecast.fanout.admission import RefusalCounter
from candlecast.messages.fanout import BroadcastStats, CpuSeconds, WriterCounters

Rejection = Literal[RefusalCounter, "requests_in_progress", "replay_too_large", "history_unavailable"]


class FanOutStats:
    def __init__(self) -> None:
        self.replayed = 0
        self.evicted = 0
        self._rejected: collections.Counter[str] = collections.Counter()
        self._gone: collections.Counter[str] = collections.Counter()
        self._writers: dict[int, WriterCounters] = {}

    def rejected(self, why: Rejection) -> None:
        self._rejected[why] += 1

    def gone(self, reason: str) -> None:
        self._gone[reason] += 1

    def reported(self, counters: WriterCounters) -> None:
        self._writers[counters.writer] = counters

    def writer(self, index: int) -> WriterCounters | None:
        """What writer ``index`` last reported; None before its first report."""
        return self._writers.get(index)

    def snapshot(self, *, clients: int, cpu_s: float) -> BroadcastStats:
        """Writers report every 100 ms when their counters changed, and at once when their
        backlogs or closing clients start or end; ``cpu_s``: the broadcaster's thread's CPU."""
        reported = self._writers.values()
        return BroadcastStats(
            clients=clients,
            delivered=sum(c.delivered for c in reported),
            writes=sum(c.writes for c in reported),
            replayed=self.replayed,
            conflated=sum(c.conflated for c in reported),
            trades_dropped=sum(c.trades_dropped for c in reported),
            evicted_slow_clients=self.evicted,
            backlogged_clients=sum(c.backlogged_clients for c in reported),
            backlog_bytes=sum(c.backlog_bytes for c in reported),
            rejected=dict(self._rejected),
            disconnects=dict(self._gone),
            cpu_s=CpuSeconds(broadcaster=round(cpu_s, 3), writers=round(sum(c.cpu_s for c in reported), 3)),
        )
