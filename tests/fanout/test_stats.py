"""The fan-out's counters add up each writer's latest report, not every report, beside the
broadcaster's own refusals, disconnects, evictions and replays."""

from __future__ import annotations

import msgspec

from candlecast.fanout.stats import FanOutStats
from candlecast.messages.fanout import WriterCounters


def counters(writer: int, delivered: int, *, busy: bool = False) -> WriterCounters:
    return WriterCounters(
        writer=writer,
        delivered=delivered,
        writes=delivered // 2,
        conflated=1,
        trades_dropped=2,
        backlogged_clients=int(busy),
        backlog_bytes=100 * int(busy),
        cpu_s=0.25,
        busy=busy,
    )


def test_the_snapshot_adds_each_writers_latest_report_to_the_broadcasters_own_counts() -> None:
    stats = FanOutStats()
    assert stats.writer(0) is None
    stats.reported(counters(0, 10))
    stats.reported(counters(0, 20, busy=True))
    stats.reported(counters(1, 5))
    stats.rejected("server_full")
    stats.rejected("server_full")
    stats.rejected("replay_too_large")
    stats.gone("closed by client")
    stats.evicted += 1
    stats.replayed += 7
    assert stats.writer(0) == counters(0, 20, busy=True)
    assert msgspec.to_builtins(stats.snapshot(clients=3, cpu_s=1.23456)) == {
        "clients": 3,
        "delivered": 25,
        "writes": 12,
        "replayed": 7,
        "conflated": 2,
        "trades_dropped": 4,
        "evicted_slow_clients": 1,
        "backlogged_clients": 1,
        "backlog_bytes": 100,
        "rejected": {"server_full": 2, "replay_too_large": 1},
        "disconnects": {"closed by client": 1},
        "cpu_s": {"broadcaster": 1.235, "writers": 0.5},
    }
