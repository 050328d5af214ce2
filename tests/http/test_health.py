"""/health, /livez and /readyz over a real system: ok and ready only while nothing is wrong,
and the reasons named when something is."""

from __future__ import annotations

import json

from candlecast.http import encoding
from candlecast.http.health import _problems
from candlecast.http.resources import upstream_summary
from candlecast.messages.clock import ClockStats
from candlecast.messages.store import GapCounts, HistoryStats
from candlecast.messages.upstream import ConnectionStatus, UpstreamStatus
from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import request, wait_for
from tests.conftest import settings_for


def _health(system: RunningSystem) -> dict:
    return request("GET", system.rest_url + "/health").json


def test_a_streaming_system_is_ok_ready_and_alive(system: RunningSystem) -> None:
    wait_for(lambda: _health(system)["status"] == "ok", timeout=15)
    health = _health(system)
    assert health["problems"] == []
    assert {name: c["state"] for name, c in health["components"].items()} == {
        "exchange-info": "running",
        "clock-timer": "running",
        "clock-sync": "running",
        "backfill": "running",
        "broadcast-tick": "running",
        "rest-server": "running",
        "websocket-listener": "running",
        "websocket-reader": "running",
        "history-writer": "running",
    }
    assert health["upstream"]["clock"]["in_sync"] is True
    ready = request("GET", system.rest_url + "/readyz")
    assert (ready.status, ready.json) == (200, {"status": "ready"})
    alive = request("GET", system.rest_url + "/livez")
    assert (alive.status, alive.json) == (200, {"status": "alive"})


def test_a_lost_upstream_is_degraded_and_not_ready_while_the_process_lives(simulator: Simulator) -> None:
    running = start_system(settings_for(simulator, reconnect_max_s=0.5))
    try:
        wait_for(lambda: _health(running)["status"] == "ok", timeout=15)
        simulator.stop()
        wait_for(lambda: _health(running)["status"] == "degraded", timeout=15)
        assert any("upstream connection 1" in p for p in _health(running)["problems"])
        ready = request("GET", running.rest_url + "/readyz")
        assert ready.status == 503 and ready.json["error"] == "Not ready"
        assert "upstream connection 1" in ready.json["detail"]
        assert request("GET", running.rest_url + "/livez").status == 200
    finally:
        running.stop()


def test_the_probes_are_not_rate_limited(simulator: Simulator) -> None:
    running = start_system(settings_for(simulator, rate_limit="5/second"))
    try:
        assert {request("GET", running.rest_url + "/livez").status for _ in range(20)} == {200}
        assert 429 not in {request("GET", running.rest_url + "/readyz").status for _ in range(20)}
        assert 429 in {request("GET", running.rest_url + "/health").status for _ in range(20)}
    finally:
        running.stop()


STATUS = UpstreamStatus(
    exchange_info_loaded=False,
    connections=(
        ConnectionStatus(connection_id=1, state="connected", symbols=("BTCUSDT", "ETHUSDT"), streams=2),
        ConnectionStatus(connection_id=2, state="reconnecting", detail="closed", symbols=("XRPUSDT",)),
    ),
    halted=tuple(f"HALT{i}USDT" for i in range(12)),
)
GAPS = {
    "BTCUSDT": GapCounts(opened=3, recovered=1, unrecoverable=1, open=1),
    "ETHUSDT": GapCounts(opened=1, open=1),
    "SOLUSDT": GapCounts(opened=5, recovered=5),
}
CLOCK = ClockStats(
    readers_behind=0,
    seconds_waiting=0,
    in_sync=False,
    offset_ms=None,
    offsets_refused=2,
    wall_clock_steps=0,
    last_sync_age_s=None,
)


def test_a_connection_shows_its_fields_in_order_then_the_gaps_of_its_symbols_summed() -> None:
    first = {
        "connection_id": 1,
        "state": "connected",
        "detail": "",
        "rejected_frames": 0,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "rejected_trades": 0,
        "reader_restarts": 0,
        "streams": 2,
        "last_frame_age_s": None,
        "reconnects": 0,
        "rotations": 0,
        "control_requests": 0,
        "resubscribed": 0,
        "gaps": {"opened": 4, "recovered": 1, "unrecoverable": 1, "open": 2},
    }
    body = json.loads(encoding.encode(upstream_summary(STATUS, GAPS)))
    assert list(body) == ["connected", "exchange_info_loaded", "connections"]
    assert body["connected"] is True and body["exchange_info_loaded"] is False
    assert json.dumps(body["connections"][0]) == json.dumps(first)
    assert body["connections"][1]["gaps"] == {"opened": 0, "recovered": 0, "unrecoverable": 0, "open": 0}


def test_every_problem_is_named_from_the_typed_answers() -> None:
    components = {
        "backfill": {"owner": "backfill", "state": "failed", "restarts": 5, "last_error": "RuntimeError: boom"},
        "clock-timer": {"owner": "clock", "state": "running", "restarts": 0, "last_error": ""},
    }
    halted = ", ".join(f"HALT{i}USDT" for i in range(10))
    history = HistoryStats(
        engine="sqlite",
        queued=120_001,
        queue_limit=200_000,
        lag_ms=30_000,
        written=10,
        batches=1,
        refused=2,
        dropped=3,
        failing="OperationalError: disk I/O error",
        last_write_age_s=30.0,
        retention=None,
        cpu_s=1.5,
    )
    assert _problems(STATUS, GAPS, CLOCK, components, history=history) == [
        "exchangeInfo not loaded",
        f"12 subscribed symbol(s) halted (not TRADING on the exchange): {halted}, ...",
        "upstream connection 1: 2 gap(s) open",
        "upstream connection 2 reconnecting",
        "backfill failed: RuntimeError: boom",
        "exchange clock not in sync",
        "history writes failing: OperationalError: disk I/O error",
        "history dropped 3 candle(s): the write queue was full",
        "history refused 2 candle(s) it cannot hold exactly",
        "history write queue over half full (120001 of 200000)",
    ]
