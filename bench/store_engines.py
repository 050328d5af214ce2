"""Candidate embedded stores for closed 1 s candles, measured side by side: SQLite with decimals
as TEXT (sums in Python Decimal or a registered aggregate), SQLite with scaled INTEGER columns
(volumes split into whole units and fraction, since scaling overflows 2^63), and DuckDB DECIMAL.

Each writes the same synthetic candles (upserts where a higher revision replaces a row, stale
revisions ignored), then reports write cost, bytes per candle, query latency, exactness of 1-minute
roll-ups against Python Decimal sums, and file size after deleting the oldest half and vacuuming.

    python -m bench.store_engines --symbols 100 --seconds 3600
"""

from __future__ import annotations

import argparse
import dataclasses
import decimal
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from bench.figures import machine

decimal.getcontext().prec = 80  # exact for every product and sum below
INT64_MAX = 2**63 - 1
E8 = 10**8
E16 = 10**16
START_MS = 1_795_836_600_000  # a whole hour
MINUTE_MS = 60_000
QUERY_REPEATS = 30
D16 = "DECIMAL(38,16)"

# (price, largest volume of one second): a BTC-, an ETH- and a PEPE-like symbol, in turn.
KINDS = [(Decimal("60000"), 3), (Decimal("3000"), 80), (Decimal("0.00001234"), 200_000_000_000)]

# sid, open_time, open, high, low, close, volume, quote_volume, trades, taker_buy_volume,
# taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete (close_time = open_time + 999).
Row = tuple[int, int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, int, Decimal, Decimal, int, int, int, bool]
Truth = dict[tuple[int, int], Row]
Bar = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]  # minute, o, h, l, c, volume, quote


def dec8(units: int) -> Decimal:
    return Decimal(units).scaleb(-8)


def make_candle(rng: random.Random, sid: int, open_time: int, revision: int) -> Row:
    price, max_volume = KINDS[sid % len(KINDS)]
    base = int(price * E8)
    o, c, h_extra, l_extra = (rng.randint(-base // 1000, base // 1000) for _ in range(4))
    high = base + max(o, c) + abs(h_extra)
    low = max(1, base + min(o, c) - abs(l_extra))
    vwap = dec8(rng.randint(low, high))
    volume = dec8(rng.randint(1, max_volume * E8))
    taker = dec8(rng.randint(0, int(volume * E8)))
    trades = rng.randint(1, 50)
    first = open_time // 10 + sid * 10**12
    return (
        sid,
        open_time,
        dec8(base + o),
        dec8(high),
        dec8(low),
        dec8(base + c),
        volume,
        volume * vwap,
        trades,
        taker,
        taker * vwap,
        first,
        first + trades - 1,
        revision,
        True,
    )


def batches(
    symbols: int, seconds: int, batch: int, seed: int = 7
) -> tuple[list[list[Row]], dict[tuple[int, int], Row]]:
    """Rows in time order, ``batch`` fresh candles per batch, plus revisions of the previous batch
    (2 %) and stale copies of rows revised a batch earlier (0.5 %, to be ignored). Returns the
    batches and the newest revision of every key."""
    rng = random.Random(seed)
    fresh = [make_candle(rng, sid, START_MS + second * 1000, 0) for second in range(seconds) for sid in range(symbols)]
    truth: dict[tuple[int, int], Row] = {}
    out: list[list[Row]] = []
    previous: list[Row] = []
    revised_before: list[Row] = []
    for start in range(0, len(fresh), batch):
        rows = fresh[start : start + batch]
        for row in rows:
            truth[row[0], row[1]] = row
        revised = [make_candle(rng, row[0], row[1], row[13] + 1) for row in rng.sample(previous, len(previous) // 50)]
        stale = revised_before[: max(1, len(revised_before) // 4)]
        for row in revised:
            truth[row[0], row[1]] = row
        out.append(rows + revised + [(*row[:13], 0, row[14]) for row in stale])  # type: ignore[list-item]
        revised_before, previous = revised, rows
    return out, truth


def python_rollup(rows: Iterable[Sequence[Any]], parse: Callable[[Any], Decimal] = Decimal) -> list[Bar]:
    """1-minute bars from (open_time, open, high, low, close, volume, quote_volume) in time order."""
    bars: dict[int, list[Any]] = {}
    for open_time, o, raw_h, raw_lo, c, raw_v, raw_q in rows:
        minute = open_time // MINUTE_MS * MINUTE_MS
        h, lo, v, q = parse(raw_h), parse(raw_lo), parse(raw_v), parse(raw_q)
        bar = bars.get(minute)
        if bar is None:
            bars[minute] = [minute, parse(o), h, lo, parse(c), v, q]
        else:
            bar[2] = max(bar[2], h)
            bar[3] = min(bar[3], lo)
            bar[4] = parse(c)
            bar[5] += v
            bar[6] += q
    return [tuple(bar) for bar in bars.values()]  # type: ignore[misc]


class Store(Protocol):
    name: str
    path: Path

    def write(self, rows: list[Row]) -> None: ...
    def last(self, sid: int, limit: int) -> list[Row]: ...
    def rollup(self, sid: int, start: int, end: int) -> list[Bar]: ...
    def delete(self, sid_count: int, start: int, end: int) -> None: ...
    def checkpoint(self) -> None: ...
    def vacuum(self) -> None: ...
    def files(self) -> int: ...


UPSERT_SET = (
    "open=excluded.open, high=excluded.high, low=excluded.low, close=excluded.close, volume=excluded.volume, "
    "{qset}, trades=excluded.trades, taker_buy_volume=excluded.taker_buy_volume, {tqset}, "
    "first_trade_id=excluded.first_trade_id, last_trade_id=excluded.last_trade_id, "
    "revision=excluded.revision, complete=excluded.complete"
)


class SqliteStore:
    """Base for both SQLite schemas: WAL, synchronous=NORMAL, WITHOUT ROWID on (sid, open_time)."""

    name = ""
    columns = ""
    qset = "quote_volume=excluded.quote_volume"
    tqset = "taker_buy_quote_volume=excluded.taker_buy_quote_volume"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"CREATE TABLE candles ({self.columns}, PRIMARY KEY (sid, open_time)) WITHOUT ROWID")
        width = self.columns.count(",") + 1
        self.insert = (
            f"INSERT INTO candles VALUES ({','.join('?' * width)}) ON CONFLICT (sid, open_time) DO UPDATE SET "
            + UPSERT_SET.format(qset=self.qset, tqset=self.tqset)
            + " WHERE excluded.revision > candles.revision"
        )

    def encode(self, row: Row) -> tuple[Any, ...]:
        raise NotImplementedError

    def write(self, rows: list[Row]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(self.insert, [self.encode(row) for row in rows])
        self.db.execute("COMMIT")

    def delete(self, sid_count: int, start: int, end: int) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "DELETE FROM candles WHERE sid = ? AND open_time >= ? AND open_time < ?",
            [(sid, start, end) for sid in range(sid_count)],
        )
        self.db.execute("COMMIT")

    def checkpoint(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def vacuum(self) -> None:
        self.db.execute("VACUUM")
        self.checkpoint()

    def files(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


class SqliteText(SqliteStore):
    """(a) Decimals as TEXT, exactly as Binance sends them; roll-ups aggregated in Python."""

    name = "a  sqlite TEXT, Python sums"
    columns = (
        "sid INTEGER, open_time INTEGER, open TEXT, high TEXT, low TEXT, close TEXT, volume TEXT, "
        "quote_volume TEXT, trades INTEGER, taker_buy_volume TEXT, taker_buy_quote_volume TEXT, "
        "first_trade_id INTEGER, last_trade_id INTEGER, revision INTEGER, complete INTEGER"
    )

    def encode(self, row: Row) -> tuple[Any, ...]:
        return tuple(str(v) if isinstance(v, Decimal) else v for v in row)

    def last(self, sid: int, limit: int) -> list[Row]:
        cursor = self.db.execute("SELECT * FROM candles WHERE sid = ? ORDER BY open_time DESC LIMIT ?", (sid, limit))
        return [
            (
                s,
                t,
                Decimal(o),
                Decimal(h),
                Decimal(lo),
                Decimal(c),
                Decimal(v),
                Decimal(q),
                n,
                Decimal(tv),
                Decimal(tq),
                f,
                la,
                r,
                bool(done),
            )
            for s, t, o, h, lo, c, v, q, n, tv, tq, f, la, r, done in cursor
        ]

    def rollup(self, sid: int, start: int, end: int) -> list[Bar]:
        cursor = self.db.execute(
            "SELECT open_time, open, high, low, close, volume, quote_volume FROM candles "
            "WHERE sid = ? AND open_time >= ? AND open_time < ? ORDER BY open_time",
            (sid, start, end),
        )
        return python_rollup(cursor)


class DecimalSum:
    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str) -> None:
        self.total += Decimal(value)

    def finalize(self) -> str:
        return str(self.total)


class DecimalMax:
    sign = 1

    def __init__(self) -> None:
        self.best: Decimal | None = None

    def step(self, value: str) -> None:
        v = Decimal(value)
        if self.best is None or (v - self.best) * self.sign > 0:
            self.best = v

    def finalize(self) -> str | None:
        return None if self.best is None else str(self.best)


class DecimalMin(DecimalMax):
    sign = -1


class SqliteTextAggregate(SqliteText):
    """(a') Same TEXT table; roll-up in SQL with Decimal aggregates registered by create_aggregate."""

    name = "a' sqlite TEXT, create_aggregate"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.db.create_aggregate("dsum", 1, DecimalSum)  # type: ignore[arg-type]
        self.db.create_aggregate("dmax", 1, DecimalMax)  # type: ignore[arg-type]
        self.db.create_aggregate("dmin", 1, DecimalMin)  # type: ignore[arg-type]

    def rollup(self, sid: int, start: int, end: int) -> list[Bar]:
        cursor = self.db.execute(
            "WITH g AS (SELECT open_time / 60000 * 60000 AS m, MIN(open_time) AS f, MAX(open_time) AS l, "
            "dmax(high) AS h, dmin(low) AS lo, dsum(volume) AS v, dsum(quote_volume) AS q FROM candles "
            "WHERE sid = ?1 AND open_time >= ?2 AND open_time < ?3 GROUP BY m) "
            "SELECT g.m, o.open, g.h, g.lo, c.close, g.v, g.q FROM g "
            "JOIN candles o ON o.sid = ?1 AND o.open_time = g.f JOIN candles c ON c.sid = ?1 AND c.open_time = g.l "
            "ORDER BY g.m",
            (sid, start, end),
        )
        return [
            (m, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v), Decimal(q))
            for m, o, h, lo, c, v, q in cursor
        ]


def split8(value: Decimal) -> tuple[int, int]:
    scaled = int(value * E8)
    return scaled // E8, scaled % E8


def split16(value: Decimal) -> tuple[int, int]:
    scaled = int(value * E16)
    return scaled // E16, scaled % E16


class SqliteScaled(SqliteStore):
    """(b) Prices as INTEGER x 1e8; every volume as two INTEGERs, whole units and the fraction
    (x 1e8, quote volumes x 1e16), since one INTEGER x 1e16 overflows 2^63 above 922.34 quote units
    and x 1e8 above 9.2e10 units (a PEPE-sized second). The fraction x 1e16 is split again in SQL
    (x / 1e8 and x % 1e8) so no SUM can overflow."""

    name = "b  sqlite INTEGER, volumes units+frac"
    columns = (
        "sid INTEGER, open_time INTEGER, open INTEGER, high INTEGER, low INTEGER, close INTEGER, volume INTEGER, "
        "volume_frac INTEGER, quote_volume INTEGER, quote_volume_frac INTEGER, trades INTEGER, "
        "taker_buy_volume INTEGER, taker_buy_volume_frac INTEGER, "
        "taker_buy_quote_volume INTEGER, taker_buy_quote_volume_frac INTEGER, "
        "first_trade_id INTEGER, last_trade_id INTEGER, revision INTEGER, complete INTEGER"
    )
    qset = (
        "volume_frac=excluded.volume_frac, quote_volume=excluded.quote_volume, "
        "quote_volume_frac=excluded.quote_volume_frac"
    )
    tqset = (
        "taker_buy_volume_frac=excluded.taker_buy_volume_frac, taker_buy_quote_volume=excluded.taker_buy_quote_volume, "
        "taker_buy_quote_volume_frac=excluded.taker_buy_quote_volume_frac"
    )

    def encode(self, row: Row) -> tuple[Any, ...]:
        sid, t, o, h, lo, c, v, q, n, tv, tq, f, la, r, done = row
        return (
            sid,
            t,
            int(o * E8),
            int(h * E8),
            int(lo * E8),
            int(c * E8),
            *split8(v),
            *split16(q),
            n,
            *split8(tv),
            *split16(tq),
            f,
            la,
            r,
            done,
        )

    def last(self, sid: int, limit: int) -> list[Row]:
        cursor = self.db.execute("SELECT * FROM candles WHERE sid = ? ORDER BY open_time DESC LIMIT ?", (sid, limit))
        return [
            (
                s,
                t,
                dec8(o),
                dec8(h),
                dec8(lo),
                dec8(c),
                dec8(v * E8 + vf),
                Decimal(q * E16 + qf).scaleb(-16),
                n,
                dec8(tv * E8 + tvf),
                Decimal(tq * E16 + tqf).scaleb(-16),
                f,
                la,
                r,
                bool(done),
            )
            for s, t, o, h, lo, c, v, vf, q, qf, n, tv, tvf, tq, tqf, f, la, r, done in cursor
        ]

    def rollup(self, sid: int, start: int, end: int) -> list[Bar]:
        cursor = self.db.execute(
            "WITH g AS (SELECT open_time / 60000 * 60000 AS m, MIN(open_time) AS f, MAX(open_time) AS l, "
            "MAX(high) AS h, MIN(low) AS lo, SUM(volume) AS vh, SUM(volume_frac) AS vl, "
            "SUM(quote_volume) AS q, SUM(quote_volume_frac / 100000000) AS qh, "
            "SUM(quote_volume_frac % 100000000) AS ql FROM candles "
            "WHERE sid = ?1 AND open_time >= ?2 AND open_time < ?3 GROUP BY m) "
            "SELECT g.m, o.open, g.h, g.lo, c.close, g.vh, g.vl, g.q, g.qh, g.ql FROM g "
            "JOIN candles o ON o.sid = ?1 AND o.open_time = g.f JOIN candles c ON c.sid = ?1 AND c.open_time = g.l "
            "ORDER BY g.m",
            (sid, start, end),
        )
        return [
            (
                m,
                dec8(o),
                dec8(h),
                dec8(lo),
                dec8(c),
                Decimal(vh * E8 + vl).scaleb(-8),
                Decimal(q * E16 + qh * E8 + ql).scaleb(-16),
            )
            for m, o, h, lo, c, vh, vl, q, qh, ql in cursor
        ]


class Duck:
    """(c) DuckDB, DECIMAL columns (128-bit above 18 digits), upsert with ON CONFLICT ... WHERE."""

    def __init__(self, path: Path, *, price: str, volume: str, quote: str, name: str) -> None:
        import duckdb  # noqa: PLC0415  (optional: only this candidate needs it)

        self.name = name
        self.path = path
        self.db = duckdb.connect(str(path))
        self.db.execute(
            f"CREATE TABLE candles (sid INTEGER, open_time BIGINT, open {price}, high {price}, low {price}, "
            f"close {price}, volume {volume}, quote_volume {quote}, trades INTEGER, taker_buy_volume {volume}, "
            f"taker_buy_quote_volume {quote}, first_trade_id BIGINT, last_trade_id BIGINT, revision INTEGER, "
            "complete BOOLEAN, PRIMARY KEY (sid, open_time))"
        )
        self.set = UPSERT_SET.format(
            qset="quote_volume=excluded.quote_volume", tqset="taker_buy_quote_volume=excluded.taker_buy_quote_volume"
        )
        types = [
            "INTEGER",
            "BIGINT",
            price,
            price,
            price,
            price,
            volume,
            quote,
            "INTEGER",
            volume,
            quote,
            "BIGINT",
            "BIGINT",
            "INTEGER",
            "BOOLEAN",
        ]
        self.unnest = ", ".join(f"unnest(string_split(${i}, ','))::{t}" for i, t in enumerate(types, 1))

    def write(self, rows: list[Row]) -> None:
        # Each column travels as one comma-joined string, split and unnested in SQL: binding Python
        # values one by one (executemany, multi-row VALUES, list parameters) costs over 1 ms a candle.
        columns = [",".join(map(str, column)) for column in zip(*rows, strict=True)]
        self.db.execute("BEGIN")
        self.db.execute(
            f"INSERT INTO candles SELECT {self.unnest} ON CONFLICT (sid, open_time) DO UPDATE SET {self.set} "
            "WHERE excluded.revision > candles.revision",
            columns,
        )
        self.db.execute("COMMIT")

    def last(self, sid: int, limit: int) -> list[Row]:
        return self.db.execute(  # type: ignore[no-any-return]
            "SELECT * FROM candles WHERE sid = ? ORDER BY open_time DESC LIMIT ?", [sid, limit]
        ).fetchall()

    def rollup(self, sid: int, start: int, end: int) -> list[Bar]:
        return self.db.execute(  # type: ignore[no-any-return]
            "SELECT open_time // 60000 * 60000 AS m, arg_min(open, open_time), max(high), min(low), "
            "arg_max(close, open_time), sum(volume), sum(quote_volume) FROM candles "
            "WHERE sid = ? AND open_time >= ? AND open_time < ? GROUP BY m ORDER BY m",
            [sid, start, end],
        ).fetchall()

    def delete(self, sid_count: int, start: int, end: int) -> None:
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM candles WHERE open_time >= ? AND open_time < ?", [start, end])
        self.db.execute("COMMIT")

    def checkpoint(self) -> None:
        self.db.execute("FORCE CHECKPOINT")

    def vacuum(self) -> None:
        self.db.execute("VACUUM")
        self.checkpoint()

    def files(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


@dataclasses.dataclass
class Result:
    name: str
    write_us: float
    bytes_full: int
    last_ms: float
    rollup_ms: float
    mismatches: int
    bytes_deleted: int
    bytes_vacuumed: int
    delete_us: float
    vacuum_s: float
    rows: int


def timed_median(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(QUERY_REPEATS):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def run(
    store: Store, data: list[list[Row]], truth: dict[tuple[int, int], Row], *, symbols: int, seconds: int
) -> Result:
    written = sum(len(batch) for batch in data)
    began = time.perf_counter()
    for batch in data:
        store.write(batch)
    write_us = (time.perf_counter() - began) * 1e6 / written
    store.checkpoint()
    bytes_full = store.files()

    end = START_MS + seconds * 1000
    mismatches = 0
    for sid in range(min(symbols, len(KINDS))):
        expected = python_rollup(
            (row[1], *row[2:8]) for row in sorted((r for (s, _), r in truth.items() if s == sid), key=lambda r: r[1])
        )
        got = store.rollup(sid, START_MS, end)
        mismatches += sum(1 for a, b in zip(expected, got, strict=False) if tuple(a) != tuple(b))
        mismatches += abs(len(expected) - len(got))
        newest = sorted((r for (s, _), r in truth.items() if s == sid), key=lambda r: -r[1])[:1000]
        stored = store.last(sid, 1000)
        mismatches += sum(1 for a, b in zip(newest, stored, strict=False) if tuple(a) != tuple(b))
        mismatches += abs(len(newest) - len(stored))
    last_ms = timed_median(lambda: store.last(0, 1000))
    rollup_ms = timed_median(lambda: store.rollup(0, end - 3_600_000, end))

    half = seconds // 2
    step = max(1, 10_000 // symbols)
    began = time.perf_counter()
    for second in range(0, half, step):
        store.delete(symbols, START_MS + second * 1000, START_MS + min(half, second + step) * 1000)
    delete_us = (time.perf_counter() - began) * 1e6 / (half * symbols)
    store.checkpoint()
    bytes_deleted = store.files()
    began = time.perf_counter()
    store.vacuum()
    vacuum_s = time.perf_counter() - began
    return Result(
        store.name,
        write_us,
        bytes_full,
        last_ms,
        rollup_ms,
        mismatches,
        bytes_deleted,
        store.files(),
        delete_us,
        vacuum_s,
        len(truth),
    )


def limits() -> list[str]:
    """Where plain 64-bit scaled integers stop, shown with sqlite3 itself."""
    lines = [
        f"quote volume x 1e16 in one INTEGER: overflows above {Decimal(INT64_MAX).scaleb(-16)} quote units",
        f"volume x 1e8, SUM over rows: overflows once the sum passes {Decimal(INT64_MAX).scaleb(-8)} units",
    ]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (q INTEGER)")
    try:
        db.execute("INSERT INTO t VALUES (?)", (int(Decimal("1234.5678") * E16),))
    except OverflowError as error:
        lines.append(f"  sqlite3 insert of 1234.5678 x 1e16: OverflowError: {error}")
    try:
        db.execute("INSERT INTO t VALUES (?)", (200_000_000_000 * E8,))
    except OverflowError as error:
        lines.append(f"  sqlite3 insert of a PEPE-sized second, 2e11 units x 1e8: OverflowError: {error}")
    db.executemany("INSERT INTO t VALUES (?)", [(5_000_000_000 * E8,)] * 20)
    try:
        db.execute("SELECT SUM(q) FROM t").fetchone()
    except sqlite3.OperationalError as error:
        lines.append(f"  SUM of 20 SHIB-sized seconds (5e9 units x 1e8): {error}; TOTAL() would answer a float")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=3600, help="seconds of candles per symbol (>= 3600)")
    parser.add_argument("--batch", type=int, default=1000, help="fresh candles per transaction")
    parser.add_argument("--only", default="", help="comma-separated candidate letters, e.g. a,c")
    args = parser.parse_args()
    print(machine())
    data, truth = batches(args.symbols, args.seconds, args.batch)
    written = sum(len(b) for b in data)
    print(
        f"{len(truth):,} candles ({args.symbols} symbols x {args.seconds} s), {written:,} rows written "
        f"in {len(data)} transactions (revisions and stale copies included)"
    )
    for line in limits():
        print(line)
    candidates: dict[str, Callable[[Path], Store]] = {
        "a": SqliteText,
        "a'": SqliteTextAggregate,
        "b": SqliteScaled,
        "c": lambda p: Duck(p, price=D16, volume=D16, quote=D16, name="c  duckdb DECIMAL(38,16)"),
        "c'": lambda p: Duck(
            p, price="DECIMAL(18,8)", volume="DECIMAL(38,8)", quote=D16, name="c' duckdb 18,8/38,8/38,16"
        ),
    }
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    results = []
    with tempfile.TemporaryDirectory(prefix="store-engines-") as tmp:
        for key, factory in candidates.items():
            if only and key not in only:
                continue
            store = factory(Path(tmp) / f"candidate-{len(results)}.db")
            results.append(run(store, data, truth, symbols=args.symbols, seconds=args.seconds))
            print(f"  done: {results[-1].name}", flush=True)
    header = (
        f"| {'candidate':38} | write µs/candle | bytes/candle | last 1000 ms | 1m roll-up 1h ms | mismatches | "
        "MB full | MB after delete | MB after vacuum | delete µs/row | vacuum s |"
    )
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r.name:38} | {r.write_us:15.1f} | {r.bytes_full / r.rows:12.1f} | {r.last_ms:12.2f} | "
            f"{r.rollup_ms:16.2f} | {r.mismatches:10d} | {r.bytes_full / 1e6:7.1f} | {r.bytes_deleted / 1e6:15.1f} | "
            f"{r.bytes_vacuumed / 1e6:15.1f} | {r.delete_us:13.1f} | {r.vacuum_s:8.2f} |"
        )


if __name__ == "__main__":
    main()
