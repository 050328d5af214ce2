"""WebSocket fan-out: how many clients the gateway feeds, how late their candles arrive, and
what each client costs the server.

    python -m bench.fanout [--clients 1000,5000,10000] [--seconds 10] [--no-stalled]
                           [--symbols 10 [--per-client K]] [--server-arg=--ws-compression=true ...]
                           [--server-cpus LIST] [--client-cpus LIST]

Each step starts a fresh ``run.py --simulate`` (``--symbols``, 10 by default, of the simulator's
20; logging at warning) as a process of its own and connects N clients, each subscribed to the
symbols' candles (with ``--per-client K``, to K of them drawn at random per client: dashboards
each watching its own list, as many subscription groups as clients), from a few client
processes (``bench.swarm``: raw non-blocking sockets, at most ``--handshakes`` upgrades in flight,
retried). After a warm-up, a window of ``--seconds`` whole seconds measures what arrives in it:

- candle latency: arrival minus the end of the candle's second (``close_time`` + 1 ms), revision 0,
  with arrival the time a client read it and (``arrived p99``) the time the kernel received it
  (see ``bench.swarm``): the clients share the server's cores and are not always there at once;
- spread: each candle's latency at a client minus its least latency at any client, the delay of
  the fan-out alone. The simulator's market is seeded, so a window later in a run always sees
  the same seconds, and how soon a candle closes (a trade of the next second, or the grace
  deadline) differs between windows: comparing two windows' latency compares their markets too;
- frames/s received by all clients, against the 10 per client a server keeping up sends;
- missing candles: seconds skipped in ``open_time`` per (client, symbol), each client should get
  one candle per symbol per second; and re-published candles (revision > 0) received instead;
- server CPU (utime + stime from /proc) as a share of one core, and per frame received above
  what the server spends with no clients (``us/msg``), RSS, and RSS growth per client against
  the server before its clients connected;
- ``fan-out``: the CPU of the broadcaster's and the writers' threads per frame received, from
  the server's /health, which the rest of the server (the simulator's market, aggregation)
  does not blur as it does ``us/msg``; and the frames each write carried.

A server that falls behind shows as frames/s under 10 per client and latency growing past the
window; every phase has a deadline, so a step that cannot connect or deliver still ends and says so.

With ``--stalled`` (the default) the same clients are measured again while one more client,
subscribed to every symbol's candles and trades, never reads its socket (a small receive
buffer). The server's ``/health`` websocket counters before and after, and the bytes the kernel
holds for that socket, show what the server did with it; ``--stalled-wait`` keeps it longer,
until the server drops it.

The clients share the machine's cores with the server, as in ``bench.rest``; the CPU figures are
the server's alone. ``--server-arg`` (repeatable) is passed to ``run.py`` last, so other
connection settings can be compared on the same load; ``--server-cpus`` confines the server
process to those CPUs (``taskset``), ``--client-cpus`` the client processes: with both, each
side has CPUs of its own, as clients on other machines would leave the server its cores.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import signal
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import daemon, swarm
from bench.figures import machine, percentile
from candlecast.runtime.cpu_affinity import parse_cpu_list
from candlecast.sim.listing import LISTING, TRADING

LISTED = tuple(spec.symbol for spec in LISTING if spec.status == TRADING)
EVERYTHING = "/?channels=candle,trade"
STALLED_RCVBUF = 4096
WINDOW_LEAD_S = 0.5
SETTLE_S = 0.3
TCP_STATES = {
    "01": "ESTABLISHED",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0B": "CLOSING",
}
REPLY_TIMEOUT_S = 30.0
HEALTH_POLL_S = 1.0
IDLE_S = 3.0
RUNNING_COUNTS = ("delivered", "writes", "cpu_s")  # /health counters that change all the time
# Every client comes from 127.0.0.1; the per-address limit would refuse all but the first 1,000.
CLIENT_LIMITS = ("--ws-max-clients=20000", "--ws-max-clients-per-ip=20000", "--ws-max-upgrades-per-ip=64")
EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*")


@dataclasses.dataclass
class Window:
    label: str
    connected: int
    seconds: int
    frames: int
    latencies: list[float]  # by the clients' read times
    arrival_latencies: list[float]  # the same candles by the kernel's arrival times (bench.swarm)
    spreads: list[float]  # each latency minus the least latency of the same candle at any client
    expected: int
    received: int
    missing: int
    revised_ages: list[float]
    duplicates: int
    cpu_s: float
    idle_cpu_s: float  # what the server spent over the same time with no clients
    fan_out_cpu_s: dict[str, float]  # the broadcaster's and the writers' threads alone, from /health
    frames_per_write: float  # every client's, as /health counts them
    clients_cpu_s: float
    busy_cpu_s: float
    rss: int
    rss_before: int
    threads: int
    closes: dict[str, int]
    health: list[tuple[float, Any]]

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) if self.latencies else math.nan

    def arrived(self, fraction: float) -> float:
        return percentile(self.arrival_latencies, fraction) if self.arrival_latencies else math.nan

    def spread(self, fraction: float) -> float:
        return percentile(self.spreads, fraction) if self.spreads else math.nan

    def row(self) -> str:
        frames = max(1, self.frames)
        grown = (self.rss - self.rss_before) / max(1, self.connected) / 1024
        return (
            f"{self.label:>16} {self.connected:>9,} {self.frames / self.seconds:>9,.0f} "
            f"{self.p(0.5):>7.1f} {self.p(0.99):>7.1f} {max(self.latencies, default=math.nan):>8.1f} "
            f"{self.arrived(0.99):>11.1f} {self.spread(0.99):>10.1f} "
            f"{self.missing:>8,} {len(self.revised_ages):>8,} {self.cpu_s / self.seconds * 100:>5.0f}% "
            f"{max(0.0, self.cpu_s - self.idle_cpu_s) / frames * 1e6:>7.1f} "
            f"{sum(self.fan_out_cpu_s.values()) / frames * 1e6:>7.1f} "
            f"{self.rss / 2**20:>7.0f} {grown:>10.1f} {self.threads:>7,}"
        )


HEADER = (
    f"{'clients':>16} {'connected':>9} {'frames/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} "
    f"{'arrived p99':>11} {'spread p99':>10} {'missing':>8} {'revised':>8} {'CPU':>6} {'us/msg':>7} "
    f"{'fan-out':>7} {'RSS MiB':>7} {'KiB/client':>10} {'threads':>7}"
)


class Swarms:
    """The client processes and their pipes; every request waits for all answers, bounded."""

    def __init__(self, count: int, symbols: tuple[str, ...], cpus: tuple[int, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes = []
        self._processes = []
        for index in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=swarm.run_swarm, args=(child, list(symbols)), name=f"fanout-clients-{index}", daemon=True
            )
            process.start()
            if cpus:
                os.sched_setaffinity(process.pid, cpus)  # type: ignore[arg-type]  # started, so it has one
            child.close()
            self._pipes.append(parent)
            self._processes.append(process)

    def __len__(self) -> int:
        return len(self._pipes)

    def cpu_seconds(self) -> float:
        return sum(daemon.cpu_seconds(process.pid) for process in self._processes if process.pid)

    def ask(self, commands: list[tuple[Any, ...]], timeout_s: float = REPLY_TIMEOUT_S) -> list[Any]:
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        deadline = time.monotonic() + timeout_s
        replies = []
        for pipe in self._pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("a client process did not answer")
            replies.append(pipe.recv())
        return replies

    def ask_all(self, command: tuple[Any, ...], timeout_s: float = REPLY_TIMEOUT_S) -> list[Any]:
        return self.ask([command] * len(self), timeout_s)

    def stop(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def listen_drops() -> Counter[str]:
    """The kernel's ListenOverflows/ListenDrops (accept queue full), all sockets of this host."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], (int(v) for v in values.split()[1:]), strict=True))
            return Counter({name: table.get(name, 0) for name in ("ListenOverflows", "ListenDrops")})
    return Counter()


def websocket_health(server: daemon.Daemon) -> Any:
    try:
        return server.get_json("/health", timeout_s=3)["websocket"]
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        return f"/health failed: {exc}"


@contextlib.contextmanager
def health_poller(server: daemon.Daemon) -> Iterator[list[tuple[float, Any]]]:
    """/health's websocket counters once a second, (seconds since start, counters), while inside."""
    samples: list[tuple[float, Any]] = []
    stop = threading.Event()
    started = time.monotonic()

    def poll() -> None:
        while not stop.wait(HEALTH_POLL_S):
            samples.append((time.monotonic() - started, websocket_health(server)))

    thread = threading.Thread(target=poll, name="health-poller", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def stalled_client(host: str, port: int) -> Iterator[socket.socket]:
    """A client subscribed to everything that completes the upgrade and then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
    sock.settimeout(10)
    try:
        sock.connect((host, port))
        request, accept = swarm.upgrade_request(host, port, EVERYTHING)
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            head += chunk
        refusal = swarm.upgrade_refusal(head.partition(b"\r\n\r\n")[0], accept)
        if refusal is not None:
            raise ConnectionError(refusal)
        yield sock
    finally:
        sock.close()


def tcp_socket(local_port: int, remote_port: int) -> tuple[str, int] | None:
    """(state, bytes waiting to be sent) of this host's IPv4 TCP socket between the two ports."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)) == (local_port, remote_port):
            return TCP_STATES.get(fields[3], fields[3]), int(fields[4].split(":")[0], 16)
    return None


def stalled_gone(counters: Any, healthy: int) -> bool:
    return isinstance(counters, dict) and counters["clients"] <= healthy


def await_stalled_fate(server: daemon.Daemon, healthy: int, deadline: float) -> Any:
    """/health's websocket counters once the server no longer holds the stalled client, or at the deadline."""
    while not stalled_gone(counters := websocket_health(server), healthy) and time.monotonic() < deadline:
        time.sleep(HEALTH_POLL_S)
    return counters


def fan_out_counters(server: daemon.Daemon) -> dict[str, float]:
    """CPU the broadcaster's and the writers' threads have used, frames delivered and the writes
    that carried them, as /health reports them."""
    counters = websocket_health(server)
    if not isinstance(counters, dict):
        return dict.fromkeys(("broadcaster", "writers", "delivered", "writes"), math.nan)
    return counters["cpu_s"] | {"delivered": counters["delivered"], "writes": counters["writes"]}


def sleep_until(wall_time: float) -> None:
    time.sleep(max(0.0, wall_time - time.time()))


def idle_cpu_per_s(server: daemon.Daemon) -> float:
    """Server CPU per second with no clients: ingest, aggregation and the simulator itself."""
    before = daemon.cpu_seconds(server.pid)
    time.sleep(IDLE_S)
    return (daemon.cpu_seconds(server.pid) - before) / IDLE_S


def measure(
    server: daemon.Daemon,
    swarms: Swarms,
    *,
    label: str,
    seconds: int,
    per_client: int,
    rss_before: int,
    idle_per_s: float,
) -> Window:
    start_s = math.ceil(time.time() + WINDOW_LEAD_S)
    end_s = start_s + seconds
    connected = sum(swarms.ask_all(("window", start_s * 1000, end_s * 1000)))
    expected = connected * per_client * seconds
    with health_poller(server) as health:
        sleep_until(start_s)
        cpu_before = daemon.cpu_seconds(server.pid), swarms.cpu_seconds(), daemon.busy_cpu_seconds()
        fan_out_before = fan_out_counters(server)
        sleep_until(end_s)
        cpu_s, clients_cpu_s, busy_cpu_s = (
            after - before
            for after, before in zip(
                (daemon.cpu_seconds(server.pid), swarms.cpu_seconds(), daemon.busy_cpu_seconds()),
                cpu_before,
                strict=True,
            )
        )
        fan_out = {name: value - fan_out_before[name] for name, value in fan_out_counters(server).items()}
        rss, threads = daemon.rss_bytes(server.pid), daemon.thread_count(server.pid)
        time.sleep(SETTLE_S)  # let the client processes read what arrived before the end
    reports = swarms.ask_all(("report",))
    latencies, arrival_latencies = array.array("d"), array.array("d")
    candles, revised_ages = array.array("q"), array.array("d")
    closes: Counter[str] = Counter()
    for report in reports:
        latencies.frombytes(report["latencies"])
        arrival_latencies.frombytes(report["arrival_latencies"])
        candles.frombytes(report["candles"])
        revised_ages.frombytes(report["revised_ages"])
        closes.update(report["closes"])
    return Window(
        label,
        connected,
        seconds,
        sum(r["frames"] for r in reports),
        latencies.tolist(),
        arrival_latencies.tolist(),
        spreads(latencies, candles),
        expected,
        sum(r["received"] for r in reports),
        sum(r["missing"] for r in reports),
        revised_ages.tolist(),
        sum(r["duplicates"] for r in reports),
        cpu_s,
        idle_per_s * seconds,
        {thread: fan_out[thread] for thread in ("broadcaster", "writers")},
        fan_out["delivered"] / max(1, fan_out["writes"]),
        clients_cpu_s,
        busy_cpu_s,
        rss,
        rss_before,
        threads,
        dict(closes),
        health,
    )


def spreads(latencies: array.array, candles: array.array) -> list[float]:
    """How much later than its first client each client got each candle: the fan-out's own
    delay, whatever made the candle itself late (its market's next trade, the grace period)."""
    first: dict[int, float] = {}
    for latency, candle in zip(latencies, candles, strict=True):
        if latency < first.get(candle, math.inf):
            first[candle] = latency
    return [latency - first[candle] for latency, candle in zip(latencies, candles, strict=True)]


def describe_window(window: Window) -> str:
    text = (
        f"  {window.label}: {window.connected:,} clients open at the window's start received "
        f"{window.received:,} candles, {window.received / max(1, window.expected) * 100:.0f} % of one per "
        f"symbol per second; {window.missing:,} skipped"
    )
    if window.revised_ages:
        text += (
            f"; {len(window.revised_ages):,} re-published candles (revision > 0), "
            f"median {statistics.median(window.revised_ages) / 1000:.1f} s after their second"
        )
    if window.duplicates:
        text += f"; {window.duplicates:,} repeated or out of order"
    if window.latencies:
        text += (
            f"; latency p50 {statistics.median(window.latencies):.1f} ms p99 {window.p(0.99):.1f} ms "
            f"(by the kernel's arrival time p50 {window.arrived(0.5):.1f} ms p99 {window.arrived(0.99):.1f} ms), "
            f"after the candle's first client p50 {window.spread(0.5):.1f} ms p99 {window.spread(0.99):.1f} ms"
        )
    if window.closes:
        text += f"; clients lost since connecting: {window.closes}"
    shares = [
        cpu / window.seconds * 100
        for cpu in (
            window.cpu_s,
            window.clients_cpu_s,
            max(0.0, window.busy_cpu_s - window.cpu_s - window.clients_cpu_s),
        )
    ]
    text += (
        f"; CPU (one core = 100 %, the machine has {os.cpu_count() * 100} %): server {shares[0]:.0f} %, "
        f"client processes {shares[1]:.0f} %, everything else {shares[2]:.0f} %; per frame received, "
        f"the broadcaster's thread {window.fan_out_cpu_s['broadcaster'] / max(1, window.frames) * 1e6:.1f} us "
        f"and the writers' {window.fan_out_cpu_s['writers'] / max(1, window.frames) * 1e6:.1f} us, "
        f"{window.frames_per_write:.1f} frames per write"
    )
    return text


def describe_health(samples: list[tuple[float, Any]]) -> str:
    """/health's websocket counters, one entry each time they changed other than ``delivered``."""
    shown, last = [], None
    for at, counters in samples:
        key = {k: v for k, v in counters.items() if k not in RUNNING_COUNTS} if isinstance(counters, dict) else counters
        if key != last:
            shown.append(f"+{at:.0f}s {json.dumps(key)}")
            last = key
    return "; ".join(shown)


def server_log_summary(lines: list[str]) -> str:
    """Warnings and errors the server logged, and exception lines written outside the logger."""
    events: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            match = EXCEPTION_LINE.match(line)
            if match or line.startswith("Exception in thread"):
                events["stderr: " + (match.group(0) if match else "Exception in thread ...")[:120]] += 1
            continue
        if isinstance(entry, dict) and entry.get("level") not in ("debug", "info"):
            events[f"{entry.get('level')}: {entry.get('event')}"] += 1
    return ", ".join(f"{count}x {text}" for text, count in events.most_common(8)) or "nothing above info"


def watchlists(market: tuple[str, ...], per_client: int, clients: int) -> list[str]:
    """Each client's upgrade target: every symbol's candles, or ``per_client`` symbols drawn at random."""
    draw = random.Random(clients)
    chosen = (market if per_client == len(market) else draw.sample(market, per_client) for _ in range(clients))
    return [f"/?symbols={','.join(s.lower() for s in symbols)}&channels=candle" for symbols in chosen]


def run_step(args: argparse.Namespace, swarms: Swarms, clients: int, results: list[Window]) -> None:
    flags = ["--symbols", ",".join(args.market), "--log-level", "warning", *CLIENT_LIMITS, *args.server_arg]
    with daemon.candlecast(flags, ready_path=f"/ohlc/{args.market[0]}", cpus=args.server_cpus) as server:
        print(
            f"\n{clients:,} clients: server pid {server.pid}, {daemon.thread_count(server.pid)} threads, "
            f"RSS {daemon.rss_bytes(server.pid) / 2**20:.0f} MiB before connecting",
            flush=True,
        )
        log_mark = len(server.log)
        rss_before = daemon.rss_bytes(server.pid)
        idle_per_s = idle_cpu_per_s(server)
        print(f"  server CPU with no clients: {idle_per_s * 100:.1f} % of one core", flush=True)
        drops_before = listen_drops()
        deadline = time.monotonic() + args.connect_timeout
        shares = split(clients, len(swarms))
        concurrency = [max(1, share) for share in split(args.handshakes, len(swarms))]
        targets = watchlists(args.market, args.per_client, clients)
        starts = itertools.accumulate(shares, initial=0)  # one more than shares: the end
        connects = swarms.ask(
            [
                ("connect", server.host, server.ws_port, targets[start : start + share], limit, deadline)
                for start, share, limit in zip(starts, shares, concurrency, strict=False)
            ],
            timeout_s=args.connect_timeout + REPLY_TIMEOUT_S,
        )
        failed: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for reply in connects:
            failed.update(reply["failed"])
            errors.update(reply["errors"])
        print(
            f"  connected {sum(r['open'] for r in connects):,}/{clients:,} in "
            f"{max(r['seconds'] for r in connects):.1f} s; failed for good: {dict(failed) or 'none'}; "
            f"attempts failed (retried): {dict(errors) or 'none'}; "
            f"listen queue overflows on this host: {dict(listen_drops() - drops_before) or 'none'}; "
            f"server threads {daemon.thread_count(server.pid):,}",
            flush=True,
        )
        time.sleep(args.warm_up)
        baseline = measure(
            server,
            swarms,
            label=f"{clients:,}",
            seconds=args.seconds,
            per_client=args.per_client,
            rss_before=rss_before,
            idle_per_s=idle_per_s,
        )
        results.append(baseline)
        print(describe_window(baseline), flush=True)
        if args.stalled:
            stall(args, server, swarms, clients=clients, rss_before=rss_before, baseline=baseline, results=results)
        closed = sum(swarms.ask_all(("close",)))
        print(f"  closed {closed:,} clients; server log: {server_log_summary(server.log[log_mark:])}", flush=True)
        if server.process.poll() is not None:
            print(f"  the server exited with {server.process.returncode}")
        stopping = time.monotonic()
    print(
        f"  server stopped in {time.monotonic() - stopping:.1f} s (exit code {server.process.returncode})", flush=True
    )


def stall(
    args: argparse.Namespace,
    server: daemon.Daemon,
    swarms: Swarms,
    *,
    clients: int,
    rss_before: int,
    baseline: Window,
    results: list[Window],
) -> None:
    before = websocket_health(server)
    with contextlib.ExitStack() as stack:
        try:
            stalled = stack.enter_context(stalled_client(server.host, server.ws_port))
        except OSError as exc:
            print(f"  the stalled client could not connect: {exc!r}")
            return
        stalled_at = time.monotonic()
        window = measure(
            server,
            swarms,
            label=f"{clients:,}+stalled",
            seconds=args.seconds,
            per_client=args.per_client,
            rss_before=rss_before,
            idle_per_s=baseline.idle_cpu_s / args.seconds,
        )
        after = await_stalled_fate(server, window.connected, stalled_at + args.stalled_wait)
        held_s = time.monotonic() - stalled_at
        queue = tcp_socket(server.ws_port, stalled.getsockname()[1])
    results.append(window)
    print(describe_window(window))
    print(
        f"  healthy clients' p99: {baseline.p(0.99):.1f} ms without the stalled client, "
        f"{window.p(0.99):.1f} ms with it; after the candle's first client (the fan-out alone, "
        f"whatever the market did in each window): {baseline.spread(0.99):.1f} and {window.spread(0.99):.1f} ms"
    )
    print(f"  /health websocket before the stalled client: {json.dumps(before)}")
    print(f"  /health websocket {held_s:.0f} s after it connected: {json.dumps(after)}")
    fate = "the server closed it" if stalled_gone(after, window.connected) else "the server still holds it"
    if queue is not None:
        fate += f"; its server-side socket is {queue[0]} with {queue[1] / 1024:,.0f} KiB queued in the kernel"
    print(f"  stalled client: {fate}")
    print(f"  /health during its window: {describe_health(window.health)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1000,5000,10000", help="comma-separated client counts, one step each")
    parser.add_argument("--seconds", type=int, default=10, help="measured window per step, whole seconds")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds between connecting and measuring")
    parser.add_argument(
        "--stalled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure each step again with one client that never reads",
    )
    parser.add_argument(
        "--stalled-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after its window, keep the stalled client until the server drops it, at most this long",
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--handshakes", type=int, default=32, help="upgrades in flight at once, all processes")
    parser.add_argument("--connect-timeout", type=float, default=45.0, help="seconds to connect a step's clients")
    parser.add_argument("--symbols", type=int, default=10, help=f"symbols the server streams, at most {len(LISTED)}")
    parser.add_argument("--per-client", type=int, help="symbols each client watches, drawn at random (default: all)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="passed to run.py, e.g. --server-arg=--ws-compression=true (repeatable)",
    )
    parser.add_argument(
        "--server-cpus", default="", metavar="LIST", help="run the server on these CPUs only (taskset's list, e.g. 1)"
    )
    parser.add_argument(
        "--client-cpus",
        default="",
        metavar="LIST",
        help="run the client processes on these CPUs only (taskset's list, e.g. 0)",
    )
    args = parser.parse_args()
    try:
        client_cpus = parse_cpu_list(args.client_cpus)
    except ValueError as exc:
        parser.error(f"--client-cpus: {exc}")
    args.per_client = args.per_client or args.symbols
    if not 1 <= args.per_client <= args.symbols <= len(LISTED):
        parser.error(f"need 1 <= --per-client <= --symbols <= {len(LISTED)}")
    args.market = LISTED[: args.symbols]
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on SIGTERM as on Ctrl-C
    steps = [int(c) for c in args.clients.split(",")]
    print(machine())
    print(
        f"load average at start {os.getloadavg()[0]:.2f}; {len(args.market)} symbols, {args.per_client} per client, "
        f"candle channel, "
        f"{args.seconds} s windows, {args.workers} client processes; server flags: {args.server_arg or 'defaults'}"
        + (f"; server on CPU {args.server_cpus} only" if args.server_cpus else "")
        + (f"; clients on CPU {args.client_cpus} only" if client_cpus else "")
    )
    results: list[Window] = []
    swarms = Swarms(args.workers, args.market, client_cpus)
    try:
        for clients in steps:
            try:
                run_step(args, swarms, clients, results)
            except RuntimeError as exc:
                print(f"  step with {clients:,} clients failed: {exc}")
    except KeyboardInterrupt:
        print("\ninterrupted")
    except TimeoutError as exc:
        print(f"\naborted: {exc}")
    finally:
        swarms.stop()
        if results:
            print(f"\n{HEADER}")
            for window in results:
                print(window.row())


if __name__ == "__main__":
    main()
