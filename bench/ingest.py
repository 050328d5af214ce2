"""Ingest: how many trades/s the whole pipeline sustains, upstream socket -> parse -> aggregate
-> publish, and what each trade costs.

    python -m bench.ingest [--symbols 20] [--rates 10000,20000,40000,60000,80000,100000] [--seconds 10]
                           [--thread-switch-ms 50] [--ws-candle-linger-ms 100] [--cpus LIST]

A load generator (``bench.loadgen``, a process of its own) streams Binance trade frames at a
rising rate; candlecast runs in this process, and one WebSocket consumer in a process of its
own counts the trades inside the candles it receives (in this process, reading a thousand
candles a second would take this process's CPU and wait for its interpreter lock, and the
latency measured would be the consumer's). For each step it prints the target rate, the trades/s
the generator wrote (less than the target when this process did not read them: the generator
makes no stale backlog), the trades/s published in candles when first published (revision 0),
how many symbols traded in a second on average (candles with trades; every symbol, as the
generator spreads its trades evenly),
CPU of this process per published trade and as a share of one core, RSS, and candle latency
(arrival minus the end of the candle's second) p50/p99. A step is sustained when the published
count keeps up with the target and latency does not grow. ``--cpus`` is the daemon's flag: candlecast
(every thread it starts) runs on those CPUs only; the generator and the consumer keep every CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import shutil
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import websocket

from bench import loadgen
from bench.figures import percentile
from candlecast.runtime.cpu_affinity import parse_cpu_list
from candlecast.runtime.logs import configure_logging
from candlecast.settings import Settings
from candlecast.system import start_system

WARM_UP_S = 3.0


class CandleCounter(threading.Thread):
    """Reads every candle; keeps (open_time, trades, latency ms)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="bench-consumer", daemon=True)
        self.socket = websocket.create_connection(url, timeout=5, skip_utf8_validation=True)
        self.seen: list[tuple[int, int, float]] = []

    def run(self) -> None:
        try:
            while text := self.socket.recv():
                message = json.loads(text)
                if message["type"] == "candle" and message["revision"] == 0:
                    latency = time.time() * 1000 - (message["close_time"] + 1)
                    self.seen.append((message["open_time"], message["trades"], latency))
        except (websocket.WebSocketException, OSError):
            return


def count_candles(url: str, requests: Connection) -> None:
    """The consumer process: each ``True`` asks for the candles seen since the last one."""
    counter = CandleCounter(url)
    counter.start()
    reported = 0
    while requests.recv():
        seen = counter.seen[reported:]
        reported += len(seen)
        requests.send(seen)
    counter.socket.close()


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rates", default="10000,20000,40000,60000,80000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--thread-switch-ms", type=float, default=Settings().thread_switch_ms)
    parser.add_argument(
        "--ws-candle-linger-ms",
        type=int,
        default=Settings().ws_candle_linger_ms,
        help="how long the consumer's candles may wait for the rest of their second",
    )
    parser.add_argument("--cpus", type=parse_cpu_list, default=(), help="as the daemon's flag, e.g. 1")
    args = parser.parse_args()
    configure_logging("console", "warning")
    generator = loadgen.start(args.symbols)
    symbols = tuple(loadgen.symbols_for(args.symbols))
    data_dir = tempfile.mkdtemp(prefix="bench-")  # the candle store, removed at the end
    settings = dataclasses.replace(
        Settings(),
        host="127.0.0.1",
        http_port=0,
        ws_port=0,
        symbols=symbols,
        stream_url=generator.stream_url,
        rest_url=generator.rest_url,
        rate_limit="",
        log_level="warning",
        ws_backlog_bytes=1 << 26,
        thread_switch_ms=args.thread_switch_ms,
        ws_candle_linger_ms=args.ws_candle_linger_ms,
        cpus=args.cpus,
        data_dir=data_dir,
    )
    system = start_system(settings)
    counter, requests = multiprocessing.Pipe()
    consumer = multiprocessing.get_context("spawn").Process(target=count_candles, args=(system.ws_url, requests))
    consumer.start()
    seen: list[tuple[int, int, float]] = []
    print(
        f"{args.symbols} symbols, {args.seconds:g} s per step, --thread-switch-ms {args.thread_switch_ms:g}, "
        f"--ws-candle-linger-ms {args.ws_candle_linger_ms}"
        + (f", --cpus {','.join(map(str, args.cpus))}" if args.cpus else "")
    )
    print(
        f"{'target/s':>9} {'sent/s':>9} {'published/s':>12} {'trading':>8} {'CPU/trade':>10} "
        f"{'CPU':>6} {'RSS':>8} {'p50':>8} {'p99':>8}"
    )
    try:
        for target in (int(r) for r in args.rates.split(",")):
            generator.rate.value = target
            time.sleep(WARM_UP_S)
            start_second = int(time.time()) + 1
            time.sleep(start_second - time.time())
            cpu_before, sent_before = time.process_time(), generator.sent.value
            time.sleep(args.seconds)
            cpu, sent = time.process_time() - cpu_before, (generator.sent.value - sent_before) / args.seconds
            end_second = start_second + int(args.seconds)
            time.sleep(1.5)  # the window's last candles close after grace
            counter.send(True)
            seen.extend(counter.recv())
            window = [(t, n, lat) for t, n, lat in seen if start_second * 1000 <= t < end_second * 1000]
            published = sum(n for _, n, _ in window) / args.seconds
            trading = sum(1 for _, n, _ in window if n) / args.seconds
            latencies = [lat for _, _, lat in window]
            p50 = percentile(latencies, 0.5) if latencies else float("nan")
            p99 = percentile(latencies, 0.99) if latencies else float("nan")
            print(
                f"{target:>9,} {sent:>9,.0f} {published:>12,.0f} {trading:>8,.0f} "
                f"{cpu / max(1.0, published * args.seconds) * 1e6:>8.1f}us "
                f"{cpu / args.seconds * 100:>5.0f}% {rss_mib():>6.0f}MiB {p50:>6.0f}ms {p99:>6.0f}ms",
                flush=True,
            )
    finally:
        generator.rate.value = 0
        counter.send(False)
        consumer.join()
        system.stop()
        generator.process.terminate()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
