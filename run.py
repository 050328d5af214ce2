"""candlecast daemon: settings -> logging -> (simulator) -> system -> wait for a signal -> stop.

Stopping is bounded: a second SIGTERM/SIGINT exits at once, and a stop that overruns
--shutdown-timeout-s exits anyway, naming the threads still running.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from contextlib import ExitStack

import structlog

from candlecast.actors.http_server import REST_CONNECTION_LIMIT, ListenError
from candlecast.runtime.cpu_affinity import threads_started_on
from candlecast.runtime.logs import configure_logging
from candlecast.runtime.open_files import OTHER_DESCRIPTORS, raise_open_files_limit
from candlecast.settings import parse_settings
from candlecast.system import start_system

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
STOP_OVERRAN_EXIT_CODE = 1

log = structlog.get_logger("candlecast.run")


def _watch_stop_signals(stop_requested: threading.Event) -> None:
    """The stop signals are blocked in every thread (each inherits the mask of the thread that
    starts it, so this runs before any other starts) and taken by a thread of their own, so
    they are seen whatever the main thread is waiting in. The first asks for an orderly stop; a
    second exits at once (128 + its number, as a shell reports a process killed by it)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def watch() -> None:
        signal.sigwait(STOP_SIGNALS)
        stop_requested.set()
        signum = signal.sigwait(STOP_SIGNALS)
        log.warning("second stop signal: exiting at once", signal=signal.Signals(signum).name)
        os._exit(128 + signum)

    threading.Thread(target=watch, name="stop-signals", daemon=True).start()


def _exit_if_stop_overruns(timeout_s: float) -> None:
    """A last resort, on a daemon thread: a stop still running after ``timeout_s`` (a thread
    that does not end keeps the process alive even after main returns) ends the process."""

    def overran() -> None:
        running = [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()]
        log.error("stop overran its deadline: exiting", timeout_s=timeout_s, threads=running)
        os._exit(STOP_OVERRAN_EXIT_CODE)

    deadline = threading.Timer(timeout_s, overran)
    deadline.name = "stop-deadline"
    deadline.daemon = True
    deadline.start()


def main(argv: list[str] | None = None) -> int:
    stop_requested = threading.Event()
    _watch_stop_signals(stop_requested)
    settings = parse_settings(argv)
    configure_logging(settings.log_format, settings.log_level)
    open_files = raise_open_files_limit()
    if open_files is not None:
        before, after = open_files
        if after != before:
            log.info("open files limit raised", before=before, after=after)
        if after < settings.ws_max_clients + REST_CONNECTION_LIMIT + OTHER_DESCRIPTORS:
            log.warning(
                "open files limit below what --ws-max-clients needs; clients past it are refused",
                limit=after,
                ws_max_clients=settings.ws_max_clients,
            )
    with ExitStack() as running:
        if settings.simulate:
            from candlecast.sim import Simulator, SimulatorConfig  # noqa: PLC0415 (loaded only when asked for)

            simulator = Simulator(
                SimulatorConfig(
                    host="127.0.0.1",
                    rest_port=0,
                    ws_port=0,
                    seed=settings.sim_seed,
                    trades_per_second=settings.sim_trades_per_second,
                )
            )
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
        _exit_if_stop_overruns(settings.shutdown_timeout_s)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
