"""History: what keeping every candle on disk costs and how fast it answers.

    python -m bench.history [--symbols 1000] [--rate 80000] [--seconds 30] [--rss-minutes 30]
                            [--query-repeats 200] [--db postgresql://...]

1. Ingest with persistence: a load generator (``bench.loadgen``, its own process) streams
   ``--rate`` trades/s over ``--symbols`` symbols into candlecast in this process, which keeps every
   candle through the history writer. Printed: candles written per second (the writer's count),
   CPU of the whole process per trade, the history writer thread's CPU per trade (what
   persistence adds on top of ingest), their ratio, the write queue's deepest lag, and bytes per
   stored candle.
2. RSS: the same system goes on for ``--rss-minutes``, its RSS printed every 30 s.
3. Queries: one symbol holding one day of 1 s candles, asked through a real server over a kept-alive
   connection: ``/api/v3/klines`` at ``1m`` for the whole day (limit 1000) and at ``1s`` with
   limit 1000 from a random second of the day; p50 and p99 of ``--query-repeats`` each.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.figures import machine, percentile
from candlecast.candles.series import empty_candle
from candlecast.history.engines import open_store
from candlecast.market_data import Candle
from candlecast.runtime.logs import configure_logging
from candlecast.runtime.process_stats import process_stats
from candlecast.settings import Settings
from candlecast.system import RunningSystem, start_system

DAY_S = 86_400
RSS_EVERY_S = 30.0
WARM_UP_S = 5.0


def settings_for(generator: loadgen.LoadGenerator, data_dir: str, db: str, symbols: tuple[str, ...]) -> Settings:
    return dataclasses.replace(
        Settings(),
        host="127.0.0.1",
        http_port=0,
        ws_port=0,
        symbols=symbols,
        stream_url=generator.stream_url,
        rest_url=generator.rest_url,
        rate_limit="",
        log_level="error",
        ws_backlog_bytes=1 << 26,
        data_dir=data_dir,
        db=db,
        retention="0",
    )


def history_stats(system: RunningSystem) -> dict[str, Any]:
    stats: dict[str, Any] = get_json(system.http_port, "/health")["history"]
    return stats


def get_json(port: int, path: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def stored_bytes(data_dir: str) -> int:
    return sum(path.stat().st_size for path in Path(data_dir).glob("candles.sqlite3*"))


def ingest(args: argparse.Namespace, data_dir: str) -> None:
    generator = loadgen.start(args.symbols)
    system = start_system(settings_for(generator, data_dir, args.db, tuple(loadgen.symbols_for(args.symbols))))
    try:
        generator.rate.value = args.rate
        time.sleep(WARM_UP_S)
        before = history_stats(system)
        cpu_before, sent_before = time.process_time(), generator.sent.value
        deepest_lag = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            time.sleep(1.0)
            deepest_lag = max(deepest_lag, history_stats(system)["lag_ms"])
        cpu, trades = time.process_time() - cpu_before, generator.sent.value - sent_before
        after = history_stats(system)
        writer = after["cpu_s"] - before["cpu_s"]
        written = after["written"] - before["written"]
        print(
            f"ingest: {args.symbols} symbols, {trades / args.seconds:,.0f} trades/s for {args.seconds:g} s: "
            f"{written / args.seconds:,.0f} candles written/s, whole process {cpu / trades * 1e6:.2f} us/trade, "
            f"history writer {writer / trades * 1e6:.2f} us/trade ({writer / cpu * 100:.1f} % of the process; "
            f"{writer / max(1, written) * 1e6:.1f} us/candle), deepest write lag {deepest_lag} ms, "
            f"dropped {after['dropped']}, failing {after['failing']!r}",
            flush=True,
        )
        if not args.db:
            rows = after["written"]  # revisions rewrite rows in place, so this overcounts them a little
            print(f"stored: {stored_bytes(data_dir) / max(1, rows):.0f} bytes per written candle", flush=True)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.rss_minutes * 60:
            rss = process_stats()["rss_bytes"] or 0
            print(f"rss: {elapsed / 60:5.1f} min {rss / 2**20:8.0f} MiB", flush=True)
            time.sleep(RSS_EVERY_S)
    finally:
        generator.rate.value = 0
        system.stop()
        generator.process.terminate()


def one_day(symbol: str, first_second: int, rng: random.Random) -> list[Candle]:
    """A day of BTC-like seconds: a trade in four of five, flat seconds between."""
    candles, price = [], Decimal("43000.00")
    for second in range(first_second, first_second + DAY_S):
        if rng.random() < 0.2:
            candles.append(empty_candle(symbol, second, price))
            continue
        close = price + Decimal(rng.randint(-500, 500)) / 100
        volume = Decimal(rng.randint(1, 10**8)) / 10**8
        candles.append(
            Candle(
                symbol=symbol,
                open_time=second * 1000,
                close_time=second * 1000 + 999,
                open=price,
                high=max(price, close) + Decimal("0.5"),
                low=min(price, close) - Decimal("0.5"),
                close=close,
                volume=volume,
                quote_volume=volume * close,
                trades=rng.randint(1, 40),
                taker_buy_volume=volume,
                taker_buy_quote_volume=volume * close,
                first_trade_id=second * 40,
                last_trade_id=second * 40 + 39,
            )
        )
        price = close
    return candles


def timed_gets(connection: http.client.HTTPConnection, paths: list[str]) -> list[float]:
    """Milliseconds of each GET, answer read whole; every answer must be a 200 with rows."""
    times = []
    for path in paths:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200 or not json.loads(body):
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
    return times


def queries(args: argparse.Namespace, data_dir: str) -> None:
    [symbol] = loadgen.symbols_for(1)
    rng = random.Random(7)
    day_start = (int(time.time()) // DAY_S - 2) * DAY_S  # a whole UTC day, two days ago
    store = open_store(args.db, Path(data_dir))
    try:
        candles = one_day(symbol, day_start, rng)
        for start in range(0, len(candles), 10_000):
            store.write(candles[start : start + 10_000])
        store.save_symbols([symbol])
    finally:
        store.close()
    generator = loadgen.start(1)
    system = start_system(settings_for(generator, data_dir, args.db, (symbol,)))
    connection = http.client.HTTPConnection("127.0.0.1", system.http_port, timeout=30)
    try:
        base = f"/api/v3/klines?symbol={symbol}"
        day = [f"{base}&interval=1m&startTime={day_start * 1000}&limit=1000"] * args.query_repeats
        seconds = [
            f"{base}&interval=1s&startTime={(day_start + rng.randrange(DAY_S - 1000)) * 1000}&limit=1000"
            for _ in range(args.query_repeats)
        ]
        timed_gets(connection, day[:5] + seconds[:5])  # warm the caches
        for label, paths in (("1m, one day (limit 1000)", day), ("1s, limit 1000", seconds)):
            times = timed_gets(connection, paths)
            print(
                f"query {label}: p50 {statistics.median(times):.1f} ms, p99 {percentile(times, 0.99):.1f} ms "
                f"({len(times)} requests over HTTP)",
                flush=True,
            )
    finally:
        connection.close()
        system.stop()
        generator.process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=80_000, help="trades per second over all symbols")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long ingest is measured")
    parser.add_argument("--rss-minutes", type=float, default=30.0, help="how long RSS is followed after (0: not)")
    parser.add_argument("--query-repeats", type=int, default=200)
    parser.add_argument("--db", default="", help="a postgresql:// URL; empty: SQLite in a temp dir")
    args = parser.parse_args()
    configure_logging("console", "error")
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-history-") as data_dir:
        ingest(args, data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as data_dir:
        queries(args, data_dir)


if __name__ == "__main__":
    main()
