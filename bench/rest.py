"""REST throughput: requests/s and latency of GET /ohlc/{symbol} with 1 and 16 concurrent clients.

    python -m bench.rest [--seconds 10] [--clients 1,16]

Starts ``run.py --simulate`` as a process of its own, so the load generator does not share
the server's interpreter, and drives it from separate processes, each holding one keep-alive
HTTP/1.1 connection and sending requests back to back.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import time

from bench import daemon
from bench.figures import describe

PATH = "/ohlc/BTCUSDT"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args()
    with daemon.candlecast(["--log-level", "info"], ready_path=PATH) as server:
        host, port, pid = server.host, server.http_port, server.pid
        for clients in (int(c) for c in args.clients.split(",")):
            cpu_before = daemon.cpu_seconds(pid)
            deadline = time.perf_counter() + args.seconds
            with multiprocessing.Pool(clients) as pool:
                results = pool.map(hammer, [(host, port, deadline)] * clients)
            server_cpu = daemon.cpu_seconds(pid) - cpu_before
            latencies = [value for result in results for value in result]
            print(f"GET {PATH}, {clients} client(s), {args.seconds:g} s: {len(latencies) / args.seconds:,.0f} requests/s, "
                  f"server CPU {server_cpu / args.seconds * 100:.0f}% of a core, "
                  f"{server_cpu / max(1, len(latencies)) * 1e6:.0f} us per request")
            print(describe("latency", latencies))


if __name__ == "__main__":
    main()
