"""The candle store on PostgreSQL, for ``--db postgresql://...``: NUMERIC columns hold every price
and volume exactly, so nothing is scaled and every roll-up sums in SQL.

Candles live in daily range partitions of open time, created as writes reach a new day, so
retention drops whole old days instead of deleting row by row. Every thread gets its own
connection in autocommit mode: a read never holds a transaction open that would hold up creating
or dropping a partition.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import DAY_MS
from candlecast.history.store import KlineQuery
from candlecast.market_data import Candle

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# NUMERIC's own limits: digits before and after the decimal point.
NUMERIC_INTEGER_DIGITS = 131072
NUMERIC_FRACTION_DIGITS = 16383

SCHEMA: tuple[LiteralString, ...] = (
    """CREATE TABLE IF NOT EXISTS symbols (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        active boolean NOT NULL DEFAULT false
    )""",
    # The primary key holds every column, so a read is an index-only scan over one symbol's seconds
    # side by side; the table has them scattered among every other symbol's.
    """CREATE TABLE IF NOT EXISTS candles (
        symbol_id integer NOT NULL REFERENCES symbols (id),
        open_time bigint NOT NULL,
        close_time bigint NOT NULL,
        open numeric NOT NULL,
        high numeric NOT NULL,
        low numeric NOT NULL,
        close numeric NOT NULL,
        volume numeric NOT NULL,
        quote_volume numeric NOT NULL,
        trades bigint NOT NULL,
        taker_buy_volume numeric NOT NULL,
        taker_buy_quote_volume numeric NOT NULL,
        first_trade_id bigint NOT NULL,
        last_trade_id bigint NOT NULL,
        revision bigint NOT NULL,
        complete boolean NOT NULL,
        PRIMARY KEY (symbol_id, open_time) INCLUDE (
            close_time, open, high, low, close, volume, quote_volume, trades,
            taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete
        )
    ) PARTITION BY RANGE (open_time)""",
)

COLUMNS: LiteralString = (
    "open_time, close_time, open, high, low, close, volume, quote_volume, trades,"
    " taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete"
)
SYMBOL_ID: LiteralString = "(SELECT id FROM symbols WHERE name = %(symbol)s)"

# A batch is copied into a temporary table, then upserted from it in one statement: faster per
# candle than one INSERT per candle, even pipelined.
INCOMING: LiteralString = "CREATE TEMPORARY TABLE incoming (LIKE candles) ON COMMIT DELETE ROWS"
COPY_TYPES = ["int4", "int8", "int8", *["numeric"] * 6, "int8", "numeric", "numeric", "int8", "int8", "int8", "bool"]
UPSERT: LiteralString = (
    f"INSERT INTO candles (symbol_id, {COLUMNS}) SELECT symbol_id, {COLUMNS} FROM incoming"
    " ON CONFLICT (symbol_id, open_time) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS.split(", ")[1:])
    + " WHERE candles.revision < excluded.revision"
)


# The first and last trade id of the seconds that had trades.
FIRST_TRADE_ID: LiteralString = (
    f"coalesce((array_agg(first_trade_id ORDER BY open_time) FILTER (WHERE first_trade_id <> {NO_TRADE_ID}))[1],"
    f" {NO_TRADE_ID})"
)
LAST_TRADE_ID: LiteralString = (
    f"coalesce((array_agg(last_trade_id ORDER BY open_time DESC) FILTER (WHERE last_trade_id <> {NO_TRADE_ID}))[1],"
    f" {NO_TRADE_ID})"
)


def _roll_up(bar: LiteralString) -> LiteralString:
    """Bars of the stored seconds grouped by ``bar``, an SQL expression rising with open time that
    is equal within a bar; each row starts with the bar's first open time."""
    return f"""
        WITH seconds AS (
            SELECT {bar} AS bar, {COLUMNS} FROM candles
            WHERE symbol_id = {SYMBOL_ID} AND open_time BETWEEN %(start)s AND %(end)s
        )
        SELECT
            min(open_time),
            (array_agg(open ORDER BY open_time))[1],
            max(high),
            min(low),
            (array_agg(close ORDER BY open_time DESC))[1],
            sum(volume),
            sum(quote_volume),
            sum(trades)::bigint,
            sum(taker_buy_volume),
            sum(taker_buy_quote_volume),
            {FIRST_TRADE_ID},
            {LAST_TRADE_ID},
            max(revision),
            bool_and(complete)
        FROM seconds GROUP BY bar ORDER BY bar LIMIT %(limit)s"""


# Local time in ms from the interval's anchor, and a floored modulo (mod() truncates towards zero).
LOCAL: LiteralString = "(open_time + %(offset)s - %(anchor)s)"
ROLL_UP_FIXED = _roll_up(f"{LOCAL} - mod(mod({LOCAL}, %(length)s) + %(length)s, %(length)s)")
# Whole seconds are exact as a double, so to_timestamp() places every second in its month.
LOCAL_TIMESTAMP: LiteralString = (
    f"to_timestamp(({LOCAL} - mod(mod({LOCAL}, 1000) + 1000, 1000)) / 1000) AT TIME ZONE 'UTC'"
)
ROLL_UP_MONTHS = _roll_up(
    f"div(extract(year FROM {LOCAL_TIMESTAMP}) * 12 + extract(month FROM {LOCAL_TIMESTAMP}) - 1, %(months)s)"
)

PARTITION_PREFIX = "candles_"
# Index-only scans skip the table only on pages vacuum has marked all-visible: vacuum every
# 100,000 new rows rather than when a partition has grown by a fifth.
PARTITION_STORAGE = sql.SQL("autovacuum_vacuum_insert_threshold = 100000, autovacuum_vacuum_insert_scale_factor = 0")
# Partitions are named by their day, YYYYMMDD, which every open time in these years has.
FIRST_DAY_MS = int(datetime.datetime(1, 1, 1, tzinfo=datetime.UTC).timestamp()) * 1000
END_DAY_MS = int(datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC).timestamp()) * 1000 + DAY_MS


class PostgresStore:
    """A ``CandleStore`` in the PostgreSQL database at ``url``; creates its tables if missing."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._connections_lock = threading.Lock()
        # Partitions are created by writes and dropped by retention, which may run on two threads.
        self._partitions_lock = threading.Lock()
        self._ids: dict[str, int] = {}
        connection = self._connection()
        with connection.transaction():
            for statement in SCHEMA:
                connection.execute(statement)
        self._partitions = self._existing_partitions()

    def _connection(self) -> psycopg.Connection[Any]:
        """This thread's connection, opened again if the last one broke (the server restarted)."""
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = psycopg.connect(self._url, autocommit=True)
            self._local.connection = connection
            with self._connections_lock:
                self._connections = [*(held for held in self._connections if not held.closed), connection]
        return connection

    def _value(self, query: sql.Composed | LiteralString, params: dict[str, Any] | None = None) -> Any:
        """The one value a one-row query answers."""
        row = self._connection().execute(query, params).fetchone()
        assert row is not None
        return row[0]

    def _existing_partitions(self) -> set[int]:
        rows = self._connection().execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'candles'::regclass"
        )
        return {_partition_day(name) for (name,) in rows}

    def _ensure_partitions(self, days: Iterable[int]) -> None:
        connection = self._connection()
        for day in sorted(set(days) - self._partitions):
            connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF candles FOR VALUES FROM ({}) TO ({}) WITH ({})"
                ).format(sql.Identifier(_partition_name(day)), day, day + DAY_MS, PARTITION_STORAGE)
            )
            self._partitions.add(day)

    def _symbol_ids(self, symbols: Iterable[str]) -> dict[str, int]:
        missing = sorted(set(symbols) - self._ids.keys())
        if missing:
            connection = self._connection()
            connection.execute(
                "INSERT INTO symbols (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING", [missing]
            )
            rows = connection.execute("SELECT name, id FROM symbols WHERE name = ANY(%s)", [missing])
            self._ids.update(rows.fetchall())
        return self._ids

    def write(self, candles: Sequence[Candle]) -> list[Candle]:
        rejected = []
        # One row per key, as an upsert cannot touch a row twice: within one batch as across
        # batches, only a higher revision replaces a candle.
        newest: dict[tuple[str, int], Candle] = {}
        for candle in candles:
            if not _holdable(candle):
                rejected.append(candle)
                continue
            key = (candle.symbol, candle.open_time)
            held = newest.get(key)
            if held is None or held.revision < candle.revision:
                newest[key] = candle
        if not newest:
            return rejected
        ids = self._symbol_ids(candle.symbol for candle in newest.values())
        connection = self._connection()
        if getattr(self._local, "incoming", None) is not connection:
            connection.execute(INCOMING)  # for this connection's life, not undone with a failed write
            self._local.incoming = connection
        with self._partitions_lock:
            self._ensure_partitions(_day_of(open_time) for _, open_time in newest)
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(f"COPY incoming (symbol_id, {COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(COPY_TYPES)
                    for candle in newest.values():
                        copy.write_row((ids[candle.symbol], *_values(candle)))
                cursor.execute(UPSERT)
        return rejected

    def candles(self, symbol: str, start_ms: int, end_ms: int, limit: int) -> list[Candle]:
        rows = self._connection().execute(
            f"SELECT {COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID}"
            " AND open_time BETWEEN %(start)s AND %(end)s ORDER BY open_time LIMIT %(limit)s",
            {"symbol": symbol, "start": start_ms, "end": end_ms, "limit": limit},
        )
        return [Candle(symbol, *row) for row in rows]

    def newest(self, symbol: str, limit: int) -> list[Candle]:
        rows = self._connection().execute(
            f"SELECT {COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID} ORDER BY open_time DESC LIMIT %(limit)s",
            {"symbol": symbol, "limit": limit},
        )
        return [Candle(symbol, *row) for row in reversed(rows.fetchall())]

    def klines(self, query: KlineQuery) -> list[Candle]:
        interval = query.interval
        bars: list[Candle] = []
        start_ms = query.start_ms
        # Bars are rolled up window by window, each as wide as the bars still wanted (twice as wide
        # after each window that held empty bars), so a small limit reads few seconds of a long range.
        widening = 1
        while len(bars) < query.limit and start_ms <= query.end_ms:
            wanted = query.limit - len(bars)
            end_ms = query.end_ms
            if not interval.months:
                end_ms = min(
                    end_ms, interval.start_of(start_ms, query.offset_ms) + wanted * widening * interval.length_ms - 1
                )
            rows = self._connection().execute(
                ROLL_UP_MONTHS if interval.months else ROLL_UP_FIXED,
                {
                    "symbol": query.symbol,
                    "start": start_ms,
                    "end": end_ms,
                    "limit": wanted,
                    "offset": query.offset_ms,
                    "anchor": interval.anchor_ms,
                    "length": interval.length_ms,
                    "months": interval.months,
                },
            )
            for first_open_time, *values in rows:
                open_time = interval.start_of(first_open_time, query.offset_ms)
                close_time = interval.next_start(open_time, query.offset_ms) - 1
                bars.append(Candle(query.symbol, open_time, close_time, *values))
            start_ms = end_ms + 1
            widening *= 2
        return bars

    def last_open_time(self, symbol: str) -> int | None:
        last: int | None = self._value(
            f"SELECT max(open_time) FROM candles WHERE symbol_id = {SYMBOL_ID}", {"symbol": symbol}
        )
        return last

    def delete_before(self, cutoff_ms: int, most: int) -> int:
        """Whole days before the cutoff go at once, whatever they hold: counting and dropping a
        partition costs a fraction of deleting its rows and frees their space at once. Within the
        cutoff's day, up to ``most`` go."""
        connection = self._connection()
        deleted = 0
        with self._partitions_lock:
            for day in sorted(self._partitions):
                if day >= cutoff_ms or deleted >= most:
                    break
                table = sql.Identifier(_partition_name(day))
                if day + DAY_MS <= cutoff_ms:
                    deleted += self._value(sql.SQL("SELECT count(*) FROM {}").format(table))
                    connection.execute(sql.SQL("DROP TABLE {}").format(table))
                    self._partitions.discard(day)
                    continue
                cursor = connection.execute(
                    sql.SQL(
                        "DELETE FROM {0} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {0} WHERE open_time < {1} LIMIT {2}))"
                    ).format(table, cutoff_ms, most - deleted)
                )
                deleted += cursor.rowcount
        return deleted

    def symbols(self) -> tuple[str, ...]:
        rows = self._connection().execute("SELECT name FROM symbols WHERE active")
        return tuple(sorted(name for (name,) in rows))

    def save_symbols(self, symbols: Iterable[str]) -> None:
        names = sorted(set(symbols))
        connection = self._connection()
        with connection.transaction():
            connection.execute(
                "INSERT INTO symbols (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING", [names]
            )
            connection.execute(
                "UPDATE symbols SET active = (name = ANY(%s)) WHERE active OR name = ANY(%s)", [names, names]
            )

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


def _day_of(time_ms: int) -> int:
    return time_ms // DAY_MS * DAY_MS


def _partition_name(day_ms: int) -> str:
    day = datetime.datetime.fromtimestamp(day_ms // 1000, datetime.UTC)
    return f"{PARTITION_PREFIX}{day.year:04}{day.month:02}{day.day:02}"


def _partition_day(name: str) -> int:
    digits = name.removeprefix(PARTITION_PREFIX)
    day = datetime.datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:]), tzinfo=datetime.UTC)
    return int(day.timestamp()) * 1000


def _values(candle: Candle) -> tuple[object, ...]:
    return (
        candle.open_time,
        candle.close_time,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
        candle.quote_volume,
        candle.trades,
        candle.taker_buy_volume,
        candle.taker_buy_quote_volume,
        candle.first_trade_id,
        candle.last_trade_id,
        candle.revision,
        candle.complete,
    )


def _holdable(candle: Candle) -> bool:
    """Whether every value fits its column exactly, and the open time a daily partition's name."""
    for value in _values(candle):
        if isinstance(value, Decimal):
            if not value.is_finite():
                return False
            _, digits, exponent = value.as_tuple()
            assert isinstance(exponent, int)
            if len(digits) + exponent > NUMERIC_INTEGER_DIGITS or -exponent > NUMERIC_FRACTION_DIGITS:
                return False
        elif isinstance(value, int) and not isinstance(value, bool) and not BIGINT_MIN <= value <= BIGINT_MAX:
            return False
    return FIRST_DAY_MS <= candle.open_time < END_DAY_MS
