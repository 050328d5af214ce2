"""candlecast daemon: settings -> logging -> (simulator) -> system -> wait for a signal -> stop."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from contextlib import ExitStack

import structlog

from candlecast.cpu_affinity import threads_started_on
from candlecast.http.server import REST_CONNECTION_LIMIT, ListenError
from candlecast.logs import configure_logging
from candlecast.open_files import OTHER_DESCRIPTORS, raise_open_files_limit
from candlecast.settings import parse_settings
from candlecast.system import start_system


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    configure_logging(settings.log_format, settings.log_level)
    log = structlog.get_logger("candlecast.run")
    open_files = raise_open_files_limit()
    if open_files is not None:
        before, after = open_files
        if after != before:
            log.info("open files limit raised", before=before, after=after)
        if after < settings.ws_max_clients + REST_CONNECTION_LIMIT + OTHER_DESCRIPTORS:
            log.warning("open files limit below what --ws-max-clients needs; clients past it are refused",
                        limit=after, ws_max_clients=settings.ws_max_clients)
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    with ExitStack() as running:
        if settings.simulate:
            from candlecast.sim import Simulator, SimulatorConfig

            simulator = Simulator(SimulatorConfig(
                host="127.0.0.1", rest_port=0, ws_port=0,
                seed=settings.sim_seed, trades_per_second=settings.sim_trades_per_second,
            ))
            with threads_started_on(settings.cpus):  # start_system confines the system's own threads
                simulator.start()
            running.callback(simulator.stop)
            log.info("simulator running", rest_url=simulator.rest_url, stream_url=simulator.stream_url)
            settings = dataclasses.replace(settings, stream_url=simulator.stream_url, rest_url=simulator.rest_url)
        try:
            system = start_system(settings)
        except ListenError as exc:
            log.error("cannot start", error=str(exc))
            return 1
        running.callback(system.stop)
        stop_requested.wait()
        log.info("shutting down")
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
