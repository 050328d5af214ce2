"""What the process says of itself: ``/health`` (everything, with the reasons it is not ok),
``/livez`` (the process answers) and ``/readyz`` (it serves what it promises: 503 otherwise).
``/health`` is ``ok`` only when nothing is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
import msgspec

from candlecast.http.resources import Actors, Resource, connection_gaps, respond, upstream_summary
from candlecast.messages.backfill import BackfillStats, GetBackfillStats
from candlecast.messages.catchup import GetCatchUpProgress
from candlecast.messages.clock import ClockStats, GetClockStats
from candlecast.messages.fanout import BroadcastStats, GetBroadcastStats
from candlecast.messages.store import GapCounts, GetGapStats, GetHistoryStats, HistoryStats
from candlecast.messages.supervision import ComponentHealth, GetComponents
from candlecast.messages.upstream import GetUpstreamStatus, UpstreamStatus
from candlecast.runtime.process_stats import process_stats
from candlecast.runtime.progress import ProgressReport

OK, DEGRADED = "ok", "degraded"
# The problem line names this many halted symbols; the upstream section lists them all.
HALTED_SHOWN = 10


def _components(actors: Actors) -> dict[str, dict[str, Any]]:
    owners = {
        "registry": actors.registry,
        "clock": actors.clock,
        "backfill": actors.backfill,
        "broadcaster": actors.broadcaster,
        "http": actors.http,
        "store": actors.store,
        "catchup": actors.catchup,
    }
    components: dict[str, dict[str, Any]] = {}
    for owner, ref in owners.items():
        if ref is None:
            continue
        owned: dict[str, ComponentHealth] = actors.ask(ref, GetComponents())
        for name, health in owned.items():
            components[name] = {"owner": owner, **msgspec.structs.asdict(health)}
    return components


def _problems(
    status: UpstreamStatus,
    gaps: Mapping[str, GapCounts],
    clock_stats: ClockStats,
    components: dict[str, dict[str, Any]],
    *,
    history: HistoryStats,
) -> list[str]:
    problems = []
    if not status.exchange_info_loaded:
        problems.append("exchangeInfo not loaded")
    if halted := status.halted:
        shown = ", ".join(halted[:HALTED_SHOWN]) + (", ..." if len(halted) > HALTED_SHOWN else "")
        problems.append(f"{len(halted)} subscribed symbol(s) halted (not TRADING on the exchange): {shown}")
    for connection in status.connections:
        if connection.state != "connected":
            problems.append(f"upstream connection {connection.connection_id} {connection.state}")
        if open_gaps := connection_gaps(connection, gaps).open:
            problems.append(f"upstream connection {connection.connection_id}: {open_gaps} gap(s) open")
    for name, component in components.items():
        if component["state"] != "running":
            problems.append(f"{name} {component['state']}: {component['last_error']}")
    if not clock_stats.in_sync:
        problems.append("exchange clock not in sync")
    if history.failing:
        problems.append(f"history writes failing: {history.failing}")
    if history.dropped:
        problems.append(f"history dropped {history.dropped} candle(s): the write queue was full")
    if history.refused:
        problems.append(f"history refused {history.refused} candle(s) it cannot hold exactly")
    if history.queued > history.queue_limit // 2:
        problems.append(f"history write queue over half full ({history.queued} of {history.queue_limit})")
    return problems


def _not_ready(actors: Actors) -> list[str]:
    """What keeps the process from serving what it promises; empty when it is ready."""
    status: UpstreamStatus = actors.ask(actors.registry, GetUpstreamStatus())
    reasons = [f"upstream connection {c.connection_id} {c.state}" for c in status.connections if c.state != "connected"]
    clock_stats: ClockStats = actors.ask(actors.clock, GetClockStats())
    if not clock_stats.in_sync:
        reasons.append("exchange clock not in sync")
    reasons += [f"{name} {c['state']}" for name, c in _components(actors).items() if c["state"] != "running"]
    return reasons


class HealthResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actors = self._actors
        status: UpstreamStatus = actors.ask(actors.registry, GetUpstreamStatus())
        gaps: dict[str, GapCounts] = actors.ask(actors.store, GetGapStats())
        backfill: BackfillStats = actors.ask(actors.backfill, GetBackfillStats())
        clock_stats: ClockStats = actors.ask(actors.clock, GetClockStats())
        components = _components(actors)
        history: HistoryStats = actors.ask(actors.store, GetHistoryStats())
        problems = _problems(status, gaps, clock_stats, components, history=history)
        websocket: BroadcastStats = actors.ask(actors.broadcaster, GetBroadcastStats())
        catchup: ProgressReport | None = (
            None if actors.catchup is None else actors.ask(actors.catchup, GetCatchUpProgress())
        )
        upstream = upstream_summary(status, gaps)
        upstream.update(halted=list(status.halted), backfill=backfill, clock=clock_stats)
        respond(
            resp,
            {
                "status": DEGRADED if problems else OK,
                "problems": problems,
                "upstream": upstream,
                "components": components,
                "websocket": websocket,
                "history": history,
                "catchup": catchup,
                "process": process_stats(),
            },
        )


class LivezResource:
    """The process answers HTTP; nothing else is asked."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond(resp, {"status": "alive"})


class ReadyzResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        reasons = _not_ready(self._actors)
        if reasons:
            raise falcon.HTTPServiceUnavailable(title="Not ready", description="; ".join(reasons))
        respond(resp, {"status": "ready"})
