"""REST throughput: requests/s and latency of GET /ohlc/{symbol} with 1 and 16 concurrent clients.

    python -m bench.rest [--seconds 10] [--clients 1,16]

Starts ``run.py --simulate`` as a process of its own, so the load generator does not share
the server's interpreter, and drives it from separate processes, each holding one keep-alive
HTTP/1.1 connection and sending requests back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from bench.figures import describe

ROOT = Path(__file__).resolve().parents[1]
PATH = "/ohlc/BTCUSDT"


@contextlib.contextmanager
def server() -> Iterator[tuple[str, int, int]]:
    """(host, port, pid) of a simulated candlecast, up and with a candle to serve."""
    command = [sys.executable, "run.py", "--simulate", "--host", "127.0.0.1", "--http-port", "0", "--ws-port", "0",
               "--rate-limit", "", "--log-format", "json", "--log-level", "info"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            if event.get("event") == "candlecast started":
                port = int(event["rest_url"].rsplit(":", 1)[1])
                break
        if port is None:
            raise RuntimeError("candlecast did not start")
        # Keep reading its log, or a full pipe would stall the server.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        deadline = time.monotonic() + 10
        while status("127.0.0.1", port) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("no candle to serve after 10 s")
            time.sleep(0.2)
        yield "127.0.0.1", port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def status(host: str, port: int) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", PATH)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args()
    with server() as (host, port, pid):
        for clients in (int(c) for c in args.clients.split(",")):
            cpu_before = cpu_seconds(pid)
            deadline = time.perf_counter() + args.seconds
            with multiprocessing.Pool(clients) as pool:
                results = pool.map(hammer, [(host, port, deadline)] * clients)
            server_cpu = cpu_seconds(pid) - cpu_before
            latencies = [value for result in results for value in result]
            print(f"GET {PATH}, {clients} client(s), {args.seconds:g} s: {len(latencies) / args.seconds:,.0f} requests/s, "
                  f"server CPU {server_cpu / args.seconds * 100:.0f}% of a core, "
                  f"{server_cpu / max(1, len(latencies)) * 1e6:.0f} us per request")
            print(describe("latency", latencies))


if __name__ == "__main__":
    main()
