"""The candle store on PostgreSQL, for ``--db postgresql://...``: NUMERIC columns hold every price
and volume exactly, so nothing is scaled and every roll-up sums in SQL.

Candles, and every minute of them rolled up as they are written (longer bars read 60 times fewer
rows), live in daily range partitions of open time, created as writes reach a new day, so
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

import msgspec
import psycopg
from psycopg import sql

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import DAY_MS, MINUTE_MS, SECOND_MS
from candlecast.history.store import SOURCE_ORDER, KlineQuery
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
        source smallint NOT NULL,
        PRIMARY KEY (symbol_id, open_time) INCLUDE (
            close_time, open, high, low, close, volume, quote_volume, trades,
            taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete, source
        )
    ) PARTITION BY RANGE (open_time)""",
    # Every UTC minute holding a stored second, rolled up from its seconds, so bars of a minute or
    # longer read 60 times fewer rows. Writes fold new seconds in and roll up again a minute whose
    # second was replaced; the times of its first and last second, of its first and last second
    # with a trade id, and of its first second with trades let seconds fold in whatever order.
    """CREATE TABLE IF NOT EXISTS minutes (
        symbol_id integer NOT NULL REFERENCES symbols (id),
        open_time bigint NOT NULL,
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
        source smallint NOT NULL,
        first_second bigint NOT NULL,
        last_second bigint NOT NULL,
        first_with_ids bigint,
        last_with_ids bigint,
        first_traded bigint,
        PRIMARY KEY (symbol_id, open_time)
    ) PARTITION BY RANGE (open_time)""",
)

COLUMNS: LiteralString = (
    "open_time, close_time, open, high, low, close, volume, quote_volume, trades,"
    " taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete, source"
)
SYMBOL_ID: LiteralString = "(SELECT id FROM symbols WHERE name = %(symbol)s)"

# The values a bar is rolled up from, whether seconds or minutes.
PIECE_COLUMNS: LiteralString = (
    "open_time, open, high, low, close, volume, quote_volume, trades,"
    " taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id, revision, complete, source"
)
MINUTE_OF: LiteralString = f"(open_time - mod(mod(open_time, {MINUTE_MS}) + {MINUTE_MS}, {MINUTE_MS}))"

# A batch is copied into a temporary table, then upserted from it in one statement: faster per
# candle than one INSERT per candle, even pipelined. ``held_revision`` is the revision stored
# before the batch, if any: a new second folds into its minute, a replaced one has it rolled up again.
SESSION_TABLES: tuple[LiteralString, ...] = (
    "CREATE TEMPORARY TABLE incoming (LIKE candles, held_revision bigint) ON COMMIT DELETE ROWS",
    "CREATE TEMPORARY TABLE touched (symbol_id integer, open_time bigint) ON COMMIT DELETE ROWS",
)
COPY_TYPES = ["int4", "int8", "int8", *["numeric"] * 6, "int8", *["numeric"] * 2, *["int8"] * 3, "bool", "int2"]
# One lookup of the key per candle (a join would be planned as a scan of whole partitions).
MARK_HELD: LiteralString = (
    "UPDATE incoming SET held_revision = (SELECT revision FROM candles"
    " WHERE candles.symbol_id = incoming.symbol_id AND candles.open_time = incoming.open_time)"
)
UPSERT: LiteralString = (
    f"INSERT INTO candles (symbol_id, {COLUMNS}) SELECT symbol_id, {COLUMNS} FROM incoming"
    " ON CONFLICT (symbol_id, open_time) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS.split(", ")[1:])
    + " WHERE candles.revision < excluded.revision"
)
TOUCH_REPLACED: LiteralString = (
    "INSERT INTO touched SELECT symbol_id, open_time FROM incoming WHERE held_revision < revision"
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


# Open, high and low come from the pieces with trades, as Binance makes a kline of its trades;
# without any, the bar is flat at its first piece's open (the previous close). A piece traded if
# its trades are above 0: trade counts are never negative, so a minute did if one of its seconds did.
FIRST_OPEN: LiteralString = "(array_agg(open ORDER BY open_time))[1]"
TRADED: LiteralString = "FILTER (WHERE trades > 0)"
# A bar (or minute) from its pieces, after its first open time.
AGGREGATES: LiteralString = f"""
    coalesce((array_agg(open ORDER BY open_time) {TRADED})[1], {FIRST_OPEN}),
    coalesce(max(high) {TRADED}, {FIRST_OPEN}),
    coalesce(min(low) {TRADED}, {FIRST_OPEN}),
    (array_agg(close ORDER BY open_time DESC))[1],
    sum(volume),
    sum(quote_volume),
    sum(trades)::bigint,
    sum(taker_buy_volume),
    sum(taker_buy_quote_volume),
    {FIRST_TRADE_ID},
    {LAST_TRADE_ID},
    max(revision),
    bool_and(complete),
    min(source)"""
MINUTE_COLUMNS: LiteralString = (
    f"symbol_id, {PIECE_COLUMNS}, first_second, last_second, first_with_ids, last_with_ids, first_traded"
)
# A minute from its seconds, after its open time.
MINUTE_AGGREGATES: LiteralString = f"""{AGGREGATES},
    min(open_time) AS first_second,
    max(open_time),
    min(open_time) FILTER (WHERE first_trade_id <> {NO_TRADE_ID}),
    max(open_time) FILTER (WHERE last_trade_id <> {NO_TRADE_ID}),
    min(open_time) {TRADED}"""
# Whether the new seconds' open (and flat high and low) replaces the held minute's: they traded and
# it had not, or they are earlier and both or neither traded.
NEW_OPENS: LiteralString = """CASE WHEN (excluded.first_traded IS NULL) <> (held.first_traded IS NULL)
        THEN excluded.first_traded IS NOT NULL
        ELSE coalesce(excluded.first_traded < held.first_traded, excluded.first_second < held.first_second) END"""
BOTH_TRADED: LiteralString = "excluded.first_traded IS NOT NULL AND held.first_traded IS NOT NULL"
FOLD_NEW: LiteralString = f"""
    INSERT INTO minutes AS held ({MINUTE_COLUMNS})
    SELECT symbol_id, {MINUTE_OF}, {MINUTE_AGGREGATES}
    FROM incoming WHERE held_revision IS NULL GROUP BY symbol_id, {MINUTE_OF}
    ON CONFLICT (symbol_id, open_time) DO UPDATE SET
        open = CASE WHEN {NEW_OPENS} THEN excluded.open ELSE held.open END,
        close = CASE WHEN excluded.last_second > held.last_second THEN excluded.close ELSE held.close END,
        high = CASE WHEN {BOTH_TRADED} THEN greatest(held.high, excluded.high)
            WHEN {NEW_OPENS} THEN excluded.high ELSE held.high END,
        low = CASE WHEN {BOTH_TRADED} THEN least(held.low, excluded.low)
            WHEN {NEW_OPENS} THEN excluded.low ELSE held.low END,
        volume = held.volume + excluded.volume,
        quote_volume = held.quote_volume + excluded.quote_volume,
        trades = held.trades + excluded.trades,
        taker_buy_volume = held.taker_buy_volume + excluded.taker_buy_volume,
        taker_buy_quote_volume = held.taker_buy_quote_volume + excluded.taker_buy_quote_volume,
        first_trade_id = CASE WHEN held.first_with_ids IS NULL OR excluded.first_with_ids < held.first_with_ids
            THEN excluded.first_trade_id ELSE held.first_trade_id END,
        last_trade_id = CASE WHEN held.last_with_ids IS NULL OR excluded.last_with_ids > held.last_with_ids
            THEN excluded.last_trade_id ELSE held.last_trade_id END,
        revision = greatest(held.revision, excluded.revision),
        complete = held.complete AND excluded.complete,
        source = least(held.source, excluded.source),
        first_second = least(held.first_second, excluded.first_second),
        last_second = greatest(held.last_second, excluded.last_second),
        first_with_ids = least(held.first_with_ids, excluded.first_with_ids),
        last_with_ids = greatest(held.last_with_ids, excluded.last_with_ids),
        first_traded = least(held.first_traded, excluded.first_traded)"""
TOUCHED_MINUTES: LiteralString = f"SELECT DISTINCT symbol_id AS touched_symbol, {MINUTE_OF} AS minute FROM touched"
# Minutes whose seconds were replaced or deleted are rolled up again from what is left. LATERAL
# reads each minute's seconds by key: a join would be planned as a scan of whole partitions.
REFOLD_TOUCHED: tuple[LiteralString, ...] = (
    f"""DELETE FROM minutes USING ({TOUCHED_MINUTES}) AS touched
    WHERE minutes.symbol_id = touched_symbol AND minutes.open_time = minute""",
    f"""INSERT INTO minutes ({MINUTE_COLUMNS})
    SELECT touched_symbol, minute, rolled.* FROM ({TOUCHED_MINUTES}) AS touched CROSS JOIN LATERAL (
        SELECT {MINUTE_AGGREGATES} FROM candles
        WHERE symbol_id = touched_symbol AND open_time >= minute AND open_time < minute + {MINUTE_MS}
    ) AS rolled WHERE rolled.first_second IS NOT NULL""",
)

SECONDS: LiteralString = (
    f"SELECT {PIECE_COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID} AND open_time BETWEEN %(start)s AND %(end)s"
)
# The whole minutes of the range from the minutes, the seconds before and after them from candles.
SECONDS_AND_MINUTES: LiteralString = f"""
    SELECT {PIECE_COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID}
        AND open_time >= %(start)s AND open_time < %(whole_from)s
    UNION ALL
    SELECT {PIECE_COLUMNS} FROM minutes WHERE symbol_id = {SYMBOL_ID}
        AND open_time >= %(whole_from)s AND open_time < %(whole_until)s
    UNION ALL
    SELECT {PIECE_COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID}
        AND open_time >= %(whole_until)s AND open_time <= %(end)s"""


def _roll_up(bar: LiteralString, pieces: LiteralString) -> LiteralString:
    """Bars of ``pieces`` (seconds, or minutes and seconds) grouped by ``bar``, an SQL expression
    rising with open time that is equal within a bar; each row starts with the bar's first open time."""
    return f"""
        WITH pieces AS ({pieces})
        SELECT min(open_time), {AGGREGATES}
        FROM (SELECT {bar} AS bar, * FROM pieces) AS barred GROUP BY bar ORDER BY bar LIMIT %(limit)s"""


# Local time in ms from the interval's anchor, and a floored modulo (mod() truncates towards zero).
LOCAL: LiteralString = "(open_time + %(offset)s - %(anchor)s)"
FIXED_BAR: LiteralString = f"{LOCAL} - mod(mod({LOCAL}, %(length)s) + %(length)s, %(length)s)"
# Whole seconds are exact as a double, so to_timestamp() places every second in its month.
LOCAL_TIMESTAMP: LiteralString = (
    f"to_timestamp(({LOCAL} - mod(mod({LOCAL}, 1000) + 1000, 1000)) / 1000) AT TIME ZONE 'UTC'"
)
MONTH_BAR: LiteralString = (
    f"div(extract(year FROM {LOCAL_TIMESTAMP}) * 12 + extract(month FROM {LOCAL_TIMESTAMP}) - 1, %(months)s)"
)
# By (calendar months, from minutes).
ROLL_UPS: dict[tuple[bool, bool], LiteralString] = {
    (months, by_minute): _roll_up(MONTH_BAR if months else FIXED_BAR, SECONDS_AND_MINUTES if by_minute else SECONDS)
    for months in (False, True)
    for by_minute in (False, True)
}

# Both are partitioned by day alike, so a day's partitions are made and dropped together.
TABLES = ("candles", "minutes")
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
            with connection.transaction():
                for table in TABLES:
                    connection.execute(
                        sql.SQL(
                            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({}) WITH ({})"
                        ).format(
                            sql.Identifier(_partition_name(table, day)),
                            sql.Identifier(table),
                            day,
                            day + DAY_MS,
                            PARTITION_STORAGE,
                        )
                    )
            self._partitions.add(day)

    def _session_tables(self, connection: psycopg.Connection[Any]) -> None:
        """The temporary tables writes and deletes use, made once per connection."""
        if getattr(self._local, "session_tables", None) is not connection:
            for statement in SESSION_TABLES:
                connection.execute(statement)  # outside any transaction: a failed write keeps them
            self._local.session_tables = connection

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
        self._session_tables(connection)
        with self._partitions_lock:
            self._ensure_partitions(_day_of(open_time) for _, open_time in newest)
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(f"COPY incoming (symbol_id, {COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(COPY_TYPES)
                    for candle in newest.values():
                        copy.write_row((ids[candle.symbol], *_values(candle)))
                for statement in (MARK_HELD, UPSERT, FOLD_NEW):
                    cursor.execute(statement)
                if cursor.execute(TOUCH_REPLACED).rowcount:
                    for statement in REFOLD_TOUCHED:
                        cursor.execute(statement)
        return rejected

    def candles(self, symbol: str, start_ms: int, end_ms: int, limit: int) -> list[Candle]:
        rows = self._connection().execute(
            f"SELECT {COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID}"
            " AND open_time BETWEEN %(start)s AND %(end)s ORDER BY open_time LIMIT %(limit)s",
            {"symbol": symbol, "start": start_ms, "end": end_ms, "limit": limit},
        )
        return [_candle(symbol, *row) for row in rows]

    def newest(self, symbol: str, limit: int) -> list[Candle]:
        rows = self._connection().execute(
            f"SELECT {COLUMNS} FROM candles WHERE symbol_id = {SYMBOL_ID} ORDER BY open_time DESC LIMIT %(limit)s",
            {"symbol": symbol, "limit": limit},
        )
        return [_candle(symbol, *row) for row in reversed(rows.fetchall())]

    def klines(self, query: KlineQuery) -> list[Candle]:
        interval = query.interval
        if interval.length_ms == SECOND_MS and query.offset_ms % SECOND_MS == 0:
            seconds = self.candles(query.symbol, query.start_ms, query.end_ms, query.limit)
            # Seconds stored on whole seconds are each a bar of their own, as they are.
            if all(second.open_time % SECOND_MS == 0 for second in seconds):
                return [
                    msgspec.structs.replace(second, close_time=second.open_time + SECOND_MS - 1) for second in seconds
                ]
        # Bars of whole minutes, at local times on whole minutes, roll up from the minutes table.
        by_minute = interval.length_ms % MINUTE_MS == 0 and query.offset_ms % MINUTE_MS == 0
        bars: list[Candle] = []
        start_ms = query.start_ms
        # Bars are rolled up window by window, each as wide as the bars still wanted (twice as wide
        # after each window that held empty bars), so a small limit reads little of a long range.
        widening = 1
        while len(bars) < query.limit and start_ms <= query.end_ms:
            wanted = query.limit - len(bars)
            end_ms = query.end_ms
            if not interval.months:
                end_ms = min(
                    end_ms, interval.start_of(start_ms, query.offset_ms) + wanted * widening * interval.length_ms - 1
                )
            whole_from = -(-start_ms // MINUTE_MS) * MINUTE_MS
            whole_until = (end_ms + 1) // MINUTE_MS * MINUTE_MS
            rows = self._connection().execute(
                ROLL_UPS[bool(interval.months), by_minute and whole_from < whole_until],
                {
                    "symbol": query.symbol,
                    "start": start_ms,
                    "end": end_ms,
                    "whole_from": whole_from,
                    "whole_until": whole_until,
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
                bars.append(_candle(query.symbol, open_time, close_time, *values))
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
        cutoff's day, up to ``most`` go, and the minutes they leave are rolled up again."""
        connection = self._connection()
        self._session_tables(connection)
        deleted = 0
        with self._partitions_lock:
            for day in sorted(self._partitions):
                if day >= cutoff_ms or deleted >= most:
                    break
                seconds = sql.Identifier(_partition_name("candles", day))
                if day + DAY_MS <= cutoff_ms:
                    deleted += self._value(sql.SQL("SELECT count(*) FROM {}").format(seconds))
                    with connection.transaction():
                        for table in TABLES:
                            connection.execute(
                                sql.SQL("DROP TABLE {}").format(sql.Identifier(_partition_name(table, day)))
                            )
                    self._partitions.discard(day)
                    continue
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.execute(
                        sql.SQL(
                            "WITH gone AS (DELETE FROM {0} WHERE ctid = ANY(ARRAY("
                            "SELECT ctid FROM {0} WHERE open_time < {1} LIMIT {2})) RETURNING symbol_id, open_time)"
                            " INSERT INTO touched SELECT * FROM gone"
                        ).format(seconds, cutoff_ms, most - deleted)
                    )
                    deleted += cursor.rowcount
                    for statement in REFOLD_TOUCHED:
                        cursor.execute(statement)
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


def _partition_name(table: str, day_ms: int) -> str:
    day = datetime.datetime.fromtimestamp(day_ms // 1000, datetime.UTC)
    return f"{table}_{day.year:04}{day.month:02}{day.day:02}"


def _partition_day(name: str) -> int:
    digits = name.rpartition("_")[2]
    day = datetime.datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:]), tzinfo=datetime.UTC)
    return int(day.timestamp()) * 1000


def _candle(symbol: str, *columns: Any) -> Candle:
    """A candle or bar from its columns in ``COLUMNS`` order, the source stored as its index in
    ``SOURCE_ORDER`` (a bar's the least exact, the smallest)."""
    return Candle(symbol, *(*columns[:-1], SOURCE_ORDER[columns[-1]]))


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
        SOURCE_ORDER.index(candle.source),
    )


def _holdable(candle: Candle) -> bool:
    """Whether every value fits its column exactly, the trade count is not negative (bars tell
    pieces that traded by it), and the open time a daily partition's name."""
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
    return candle.trades >= 0 and FIRST_DAY_MS <= candle.open_time < END_DAY_MS
