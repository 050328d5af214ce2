"""Gaps end to end: the simulator loses trades on the stream (skipped ids, dropped sockets),
the system notices from the trade ids, repairs them over REST, and every final candle equals
the reference computed from the simulator's full trade record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request
from tests.conftest import make_simulator, settings_for

SYMBOL = "BTCUSDT"


def run(
    sim: Simulator, fault: Callable[[Simulator], None], events: int = 1, **settings: Any
) -> tuple[list[dict[str, Any]], RunningSystem]:
    """Stream until candles flow, inject ``fault``, wait for ``events`` repairs, then 2 s more
    (3 s when no repair is expected)."""
    running = start_system(settings_for(sim, symbols=(SYMBOL,), **settings))
    client = WsClient(running.ws_url + f"/?symbols={SYMBOL}")
    try:
        client.until(lambda m: m["type"] == "candle" and m["trades"] > 0)
        client.collect(1.0)
        fault(sim)
        for _ in range(events):
            client.until(lambda m: m["type"] in ("recovered", "unrecoverable"), timeout=20)
        client.collect(2.0 if events else 3.0)
        return client.received, running
    finally:
        client.close()


def check_repaired(sim: Simulator, messages: list[dict[str, Any]], content_changed: bool) -> list[dict[str, Any]]:
    """Gap then recovered, nothing unrecoverable; candles sent while the gap was open and inside
    it flagged; every final candle exact. ``content_changed``: the gap had trades in
    published candles, so they were flagged and re-published with a new revision."""
    events = [m for m in messages if m["type"] in ("gap", "recovered", "unrecoverable")]
    assert [e["type"] for e in events][:1] == ["gap"] and events[-1]["type"] == "recovered", events
    assert not any(e["type"] == "unrecoverable" for e in events)
    opened, repaired = messages.index(events[0]), messages.index(events[-1])
    first, end = events[0]["from_time"], events[0]["to_time"]
    for message in messages[opened:repaired]:
        if (
            message["type"] == "candle"
            and first <= message["open_time"]
            and (end is None or message["open_time"] <= end)
        ):
            assert message["complete"] is False, f"published inside an open gap yet not flagged: {message}"
    candles = candles_of(messages, SYMBOL)
    if content_changed:
        # Whether a flagged revision reaches clients depends on the repair taking longer than a
        # broadcast tick; the repaired one always does.
        assert any(c.revision > 0 for c in candles), "repaired candles were re-published with a new revision"
    assert_matches_reference(sim, SYMBOL, final_candles(candles))
    return events


def test_skipped_trade_ids_are_backfilled(busy: Simulator) -> None:
    messages, running = run(busy, lambda sim: sim.skip_trades(SYMBOL, 15))
    try:
        events = check_repaired(busy, messages, content_changed=True)
        gap = events[0]
        assert gap["last_trade_id"] - gap["first_trade_id"] + 1 == 15
        health = request("GET", running.rest_url + "/health").json
        (connection,) = health["upstream"]["connections"]
        assert connection["gaps"] == {"opened": 1, "recovered": 1, "unrecoverable": 0, "open": 0}
        backfill = health["upstream"]["backfill"]
        assert backfill["trades_recovered"] >= 15 and backfill["source"] == "historicalTrades"
        assert backfill["rest_weight_used_1m"] > 0
    finally:
        running.stop()


@pytest.mark.parametrize("close_frame", [True, False], ids=["close-frame", "cut-socket"])
def test_a_dropped_connection_is_repaired(busy: Simulator, close_frame: bool) -> None:
    messages, running = run(busy, lambda sim: sim.drop_connections(close_frame=close_frame))
    running.stop()
    check_repaired(busy, messages, content_changed=False)
    assert busy.connections_accepted == 2


def test_a_silent_connection_is_replaced_and_repaired(busy: Simulator) -> None:
    messages, running = run(busy, lambda sim: sim.stall_connections(), stale_after_s=2.0)
    running.stop()
    check_repaired(busy, messages, content_changed=True)


@pytest.mark.parametrize(
    "fault",
    [
        lambda sim: sim.server_shutdown(after_s=1.0),
        lambda sim: sim.send_malformed(count=8),
    ],
    ids=["server-shutdown", "malformed-frames"],
)
def test_faults_that_lose_no_trade_change_no_candle(busy: Simulator, fault: Callable[[Simulator], None]) -> None:
    messages, running = run(busy, fault, events=0)
    running.stop()
    assert not [m for m in messages if m["type"] in ("gap", "recovered", "unrecoverable")]
    candles = candles_of(messages, SYMBOL)
    assert all(c.revision == 0 and c.complete for c in candles)
    assert_matches_reference(busy, SYMBOL, final_candles(candles))


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limited_backfill_waits_for_retry_after(busy: Simulator, status: int) -> None:
    def fault(sim: Simulator) -> None:
        sim.fail_rest(status=status, retry_after_s=1, count=2)
        sim.skip_trades(SYMBOL, 10)

    messages, running = run(busy, fault)
    try:
        check_repaired(busy, messages, content_changed=True)
        backfill = request("GET", running.rest_url + "/health").json["upstream"]["backfill"]
        assert backfill["rate_limited"] == 2
    finally:
        running.stop()


def test_aggregate_trades_repair_when_historical_trades_are_refused() -> None:
    sim = make_simulator(symbols=(SYMBOL,), trades_per_second=20.0, seed=9, historical_trades_need_key=True)
    sim.start()
    try:
        messages, running = run(sim, lambda s: s.skip_trades(SYMBOL, 12))
        try:
            check_repaired(sim, messages, content_changed=True)
            assert request("GET", running.rest_url + "/health").json["upstream"]["backfill"]["source"] == "aggTrades"
        finally:
            running.stop()
    finally:
        sim.stop()
