"""/health, /livez and /readyz over a real system: ok and ready only while nothing is wrong,
and the reasons named when something is."""

from __future__ import annotations

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
