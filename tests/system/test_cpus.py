"""--cpus: every thread the system starts, and every thread those start, runs on the chosen
CPUs; the thread that started the system gets its own CPUs back."""

from __future__ import annotations

import os
import threading

import pytest

from candlecast.runtime.cpu_affinity import threads_started_on, usable_cpus
from candlecast.system import start_system
from tests.clients import WsClient, request
from tests.conftest import make_simulator, settings_for


@pytest.mark.skipif(len(usable_cpus()) < 2, reason="needs two CPUs to tell a confined thread apart")
def test_every_thread_the_system_starts_runs_on_the_chosen_cpu() -> None:
    cpu, simulator_cpu = max(usable_cpus()), min(usable_cpus())
    with threads_started_on({simulator_cpu}):  # the exchange's threads, told apart by their CPU
        sim = make_simulator()
        sim.start()
    before = {t.ident for t in threading.enumerate()}
    running = start_system(settings_for(sim, cpus=(cpu,)))
    try:
        client = WsClient(running.ws_url)  # a request thread, the client reader, a writer at work
        try:
            client.until(lambda m: m["type"] == "candle")
            assert request("GET", running.rest_url + "/symbols").status == 200
            started = [t for t in threading.enumerate() if t.ident not in before and t.native_id is not None]
            cpus = {t.name: frozenset(os.sched_getaffinity(t.native_id)) for t in started}
        finally:
            client.close()
    finally:
        running.stop()
        sim.stop()
    ours = {name for name, allowed in cpus.items() if allowed == {cpu}}
    assert {name: allowed for name, allowed in cpus.items() if allowed not in ({cpu}, {simulator_cpu})} == {}
    names = {name.rstrip("0123456789-_") for name in ours}
    assert {"rest-server", "waitress", "StoreActor", "WriterActor", "websocket-listener-request"} <= names, names
    assert os.sched_getaffinity(0) == usable_cpus(), "the starting thread gets its CPUs back"
