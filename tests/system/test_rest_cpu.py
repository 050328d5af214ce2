"""--rest-cpu: the threads a REST request passes through run on that CPU, and nothing else
the system starts is confined with them."""

from __future__ import annotations

import os
import threading

import pytest

from candlecast.cpu_affinity import usable_cpus
from candlecast.sim import Simulator
from candlecast.system import start_system
from tests.clients import request
from tests.conftest import settings_for

REST_THREADS = ("rest-server", "waitress-", "StoreActor-")


@pytest.mark.skipif(len(usable_cpus()) < 2, reason="needs two CPUs to tell a pinned thread from the others")
def test_rest_threads_and_the_store_run_on_the_chosen_cpu_only(simulator: Simulator) -> None:
    cpu = max(usable_cpus())
    before = {t.ident for t in threading.enumerate()}
    running = start_system(settings_for(simulator, rest_cpu=cpu))
    try:
        assert request("GET", running.rest_url + "/symbols").status == 200
        started = [t for t in threading.enumerate() if t.ident not in before and t.native_id is not None]
        cpus = {t.name: frozenset(os.sched_getaffinity(t.native_id)) for t in started}
    finally:
        running.stop()
    pinned = {name for name in cpus if name.startswith(REST_THREADS)}
    assert {name.rstrip("0123456789") for name in pinned} == {"rest-server", "waitress-", "StoreActor-"}
    assert all(cpus[name] == {cpu} for name in pinned), cpus
    others = set(cpus) - pinned
    assert others and all(cpus[name] == usable_cpus() for name in others), cpus
    assert os.sched_getaffinity(0) == usable_cpus(), "the starting thread gets its CPUs back"
