"""REST throughput: requests/s, latency and server CPU of GET /ohlc/{symbol} with 1 and 16
concurrent clients, for candlecast and for a bare app on the same waitress (the ceiling).

    python -m bench.rest [--seconds 10] [--clients 1,16] [--repeat 1] [--generator auto|wrk|python]
                         [--no-ceiling] [--server-cpus LIST] [--server-arg=--cpus=1 ...]

Starts ``run.py --simulate`` as a process of its own and drives it over keep-alive HTTP/1.1
connections, each sending requests back to back. The load comes from ``wrk`` when it is on
PATH (``apt-get install wrk``): one C thread holding every connection costs a small share of a
core, where one Python client process per connection (the fallback, or ``--generator python``)
takes about as much CPU as the server it measures, on the same two cores.

Before the load, the server's idle CPU (in the daemon: the simulator, the clock, the
broadcaster) is measured over ``--idle-seconds``; each step prints the server's CPU per request
as measured and net of that idle rate, the load generator's CPU, and what everything else on the
machine used meanwhile, so a busy neighbour shows in the figures. Then the same steps against
``bench.bare_rest``: a constant candle-sized body on the daemon's waitress settings, the most
this machine serves today with waitress and Falcon alone. ``--server-cpus`` confines both
servers with ``taskset``; ``--server-arg`` (repeatable) passes a flag to candlecast alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import multiprocessing
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench import daemon
from bench.figures import machine, percentile

PATH = "/ohlc/BTCUSDT"
WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclasses.dataclass(frozen=True)
class Load:
    """What one load step achieved, as the load generator saw it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float


Generator = Callable[[str, int, int, int], Load]


def hammer(args: tuple[str, int, float]) -> list[float]:
    """One client: back-to-back requests on one connection until the deadline; latencies in ms."""
    host, port, deadline = args
    connection = http.client.HTTPConnection(host, port, timeout=10)
    latencies = []
    while (started := time.perf_counter()) < deadline:
        connection.request("GET", PATH)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def python_load(host: str, port: int, clients: int, seconds: int) -> Load:
    """One Python client process per connection."""
    deadline = time.perf_counter() + seconds
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(hammer, [(host, port, deadline)] * clients)
    latencies = [value for result in results for value in result]
    return Load(len(latencies), seconds, percentile(latencies, 0.5), percentile(latencies, 0.99))


def wrk_load(host: str, port: int, clients: int, seconds: int) -> Load:
    """One wrk thread holding every connection."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", f"http://{host}:{port}{PATH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> Load:
    """Requests, duration and latency percentiles from ``wrk --latency``; any failed request is an error."""
    if failures := re.search(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", out):
        raise RuntimeError(f"wrk: {failures.group(1)}\n{out}")
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", out)
    if done is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")

    def latency_ms(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no {label} latency in wrk output:\n{out}")
        return float(found.group(1)) * WRK_UNITS_MS[found.group(2)]

    seconds = float(done.group(2)) * WRK_UNITS_MS[done.group(3)] / 1000
    return Load(int(done.group(1)), seconds, latency_ms("50%"), latency_ms("99%"))


def children_cpu_seconds() -> float:
    """CPU of this process's finished children: the load generator of the step just ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def idle_cpu_share(pid: int, seconds: float) -> float:
    """The server's CPU with no requests, as a share of one core."""
    before = daemon.cpu_seconds(pid)
    time.sleep(seconds)
    return (daemon.cpu_seconds(pid) - before) / seconds


def measure(
    label: str, server: daemon.Daemon, generator: Generator, *, name: str, clients: int, seconds: int, idle_share: float
) -> float:
    """One load step against ``server``; prints its line and answers requests/s."""
    server_before, generator_before, busy_before = (
        daemon.cpu_seconds(server.pid),
        children_cpu_seconds(),
        daemon.busy_cpu_seconds(),
    )
    load = generator(server.host, server.http_port, clients, seconds)
    server_cpu = daemon.cpu_seconds(server.pid) - server_before
    generator_cpu = children_cpu_seconds() - generator_before
    others_cpu = daemon.busy_cpu_seconds() - busy_before - server_cpu - generator_cpu
    rate = load.requests / load.seconds
    per_request_us = server_cpu / max(1, load.requests) * 1e6
    net_us = (server_cpu - idle_share * load.seconds) / max(1, load.requests) * 1e6
    print(
        f"{label:>10}  {clients:2d} client(s): {rate:7,.0f} requests/s  p50 {load.p50_ms:5.2f} ms  "
        f"p99 {load.p99_ms:6.2f} ms  server CPU {server_cpu / load.seconds:4.0%} of a core, "
        f"{per_request_us:4.0f} us/request ({net_us:4.0f} net of idle)  "
        f"{name} {generator_cpu / load.seconds:4.0%}, others {max(0.0, others_cpu) / load.seconds:4.0%}",
        flush=True,
    )
    return rate


def run_steps(label: str, server: daemon.Daemon, generator: Generator, *, name: str, args: argparse.Namespace) -> None:
    idle_share = idle_cpu_share(server.pid, args.idle_seconds)
    print(f"{label:>10}  idle: server CPU {idle_share:.1%} of a core", flush=True)
    for clients in (int(c) for c in args.clients.split(",")):
        rates = [
            measure(label, server, generator, name=name, clients=clients, seconds=args.seconds, idle_share=idle_share)
            for _ in range(args.repeat)
        ]
        if len(rates) > 1:
            print(
                f"{label:>10}  {clients:2d} client(s): {min(rates):,.0f}-{max(rates):,.0f} requests/s over "
                f"{len(rates)} runs, median {statistics.median(rates):,.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each step, for the spread")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the bare Falcon app on the same waitress settings",
    )
    parser.add_argument(
        "--server-cpus", default="", metavar="LIST", help="run the servers on these CPUs only (taskset's list, e.g. 1)"
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="passed to run.py, e.g. --server-arg=--cpus=1 (repeatable)",
    )
    args = parser.parse_args()
    name = args.generator
    if name == "auto":
        name = "wrk" if shutil.which("wrk") else "python"
    generator: Generator = wrk_load if name == "wrk" else python_load
    print(machine())
    print(
        f"GET {PATH}, {args.seconds} s per step, load from {name}"
        + ("" if name == "wrk" else " (one process per client; `apt-get install wrk` for a lighter generator)")
    )
    if args.server_cpus:
        print(f"servers run on CPU {args.server_cpus} only")
    if args.server_arg:
        print(f"candlecast flags: {' '.join(args.server_arg)}")
    with daemon.candlecast(["--log-level", "info", *args.server_arg], ready_path=PATH, cpus=args.server_cpus) as server:
        run_steps("candlecast", server, generator, name=name, args=args)
    if args.ceiling:
        port = daemon.free_port()
        bare_command = [sys.executable, "-m", "bench.bare_rest", "--port", str(port)]
        with daemon.serving(bare_command, port, 0, PATH, cpus=args.server_cpus) as bare:
            run_steps("bare app", bare, generator, name=name, args=args)


if __name__ == "__main__":
    main()
