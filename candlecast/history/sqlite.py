"""The embedded candle store: one SQLite file, exact without a decimal type.

Prices are INTEGERs x 1e8 and every volume two INTEGERs, whole units and fraction (x 1e8, quote
volumes x 1e16), since one scaled INTEGER overflows 2^63 on real volumes; a value these columns
cannot hold is refused, never rounded. Roll-ups sum the parts in SQL, split so no SUM overflows,
and join them in Decimal; a minutes table kept by triggers spares longer bars most of the seconds.
"""

from __future__ import annotations

import contextlib
import decimal
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.intervals import MINUTE_MS, SECOND_MS
from candlecast.history.rollup import roll_up
from candlecast.history.store import SOURCE_ORDER, KlineQuery
from candlecast.market_data import Candle

Table = Literal["candles", "minutes"]
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PRICE_DIGITS = 8
VOLUME_DIGITS = 8
QUOTE_DIGITS = 16
# Sums of trades and bar arithmetic on open times stay within int64 (SQLite's + would turn to float).
# Trade counts are never negative, so a piece of a bar traded exactly when its sum is above 0.
MAX_TRADES = 10**12
MAX_TIME_MS = 2**53
LARGEST_ADJUSTED = 40  # any value above 1e40 is far beyond int64 once scaled; checked before scaling
SECOND_LENGTH_MS = 999  # close_time - open_time of a 1 s candle, the only close_time kept
BUSY_TIMEOUT_MS = 10_000
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # the WAL is truncated back to this after a checkpoint
# Scaling changes only the exponent; no precision a value can have makes it round.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_SPLIT = 10**9  # sums of whole units and of 1e16 fractions are split by this in SQL, so none overflows


def _sum_parts() -> list[tuple[str, str]]:
    """The additive parts of a bar as (name, expression), summed in SQL and joined in
    ``_decode_bar``: trades, and each volume's whole units split again by 1e9 and its fraction (a
    1e16 fraction split by 1e9 too), so no sum overflows. ``{row}`` is where a column's table goes."""
    parts = [("trades", "{row}trades")]
    for volume, digits in (
        ("volume", VOLUME_DIGITS),
        ("quote_volume", QUOTE_DIGITS),
        ("taker_buy_volume", VOLUME_DIGITS),
        ("taker_buy_quote_volume", QUOTE_DIGITS),
    ):
        parts += [(f"{volume}_hi", f"{{row}}{volume} / {_SPLIT}"), (f"{volume}_lo", f"{{row}}{volume} % {_SPLIT}")]
        if digits == VOLUME_DIGITS:
            parts.append((f"{volume}_frac", f"{{row}}{volume}_frac"))
        else:
            parts += [
                (f"{volume}_frac_hi", f"{{row}}{volume}_frac / {_SPLIT}"),
                (f"{volume}_frac_lo", f"{{row}}{volume}_frac % {_SPLIT}"),
            ]
    return parts


_PARTS = _sum_parts()
# A bar: its open time and prices, the parts, the trade ids, revision, complete and source, and the
# open times of its first and last second, of the first and last second with trade ids, and of the
# first second with trades (NULL if none: the bar is flat at its first second's open).
_BAR_COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    *(name for name, _ in _PARTS),
    "first_trade_id",
    "last_trade_id",
    "revision",
    "complete",
    "source",
    "first_second",
    "last_second",
    "first_with_ids",
    "last_with_ids",
    "first_traded",
]
_COLUMNS = (
    "open_time, open, high, low, close, volume, volume_frac, quote_volume, quote_volume_frac, trades, "
    "taker_buy_volume, taker_buy_volume_frac, taker_buy_quote_volume, taker_buy_quote_volume_frac, "
    "first_trade_id, last_trade_id, revision, complete, source"
)


def _bars_sql(
    table: Table,
    *,
    sid: str = ":sid",
    lo: str = ":lo",
    hi: str = ":hi",
    shift: str = ":shift",
    length: str = ":length",
    limit: str = ":limit",
) -> str:
    """Bars of ``table``'s rows of one symbol in [lo, hi] as ``_BAR_COLUMNS``, grouped by
    ``open_time - floormod(open_time + shift, length)``: a fixed-length interval's open time, or one
    calendar month when the range is that month alone. Open, close and the trade ids come from the
    rows MIN/MAX find, looked up by key; open, high and low only from rows with trades, as Binance
    makes a kline of its trades, else the first row's open. A subquery rather than WITH, which
    triggers cannot use."""
    parts = [(name, part.format(row="") if table == "candles" else name) for name, part in _PARTS]
    ids_first = f"CASE WHEN first_trade_id != {NO_TRADE_ID} THEN open_time END"
    ids_last = f"CASE WHEN last_trade_id != {NO_TRADE_ID} THEN open_time END"
    # A second traded if it had trades; a minute if one of its seconds did.
    traded = "trades > 0" if table == "candles" else "first_traded IS NOT NULL"
    spans = (
        ("open_time", "open_time", ids_first, ids_last, f"CASE WHEN {traded} THEN open_time END")
        if table == "candles"
        else ("first_second", "last_second", "first_with_ids", "last_with_ids", "first_traded")
    )
    return f"""SELECT bars.bar, o.open, COALESCE(bars.high, o.open), COALESCE(bars.low, o.open), c.close,
    {"".join(f"bars.{name}, " for name, _ in parts)}
    COALESCE(f.first_trade_id, {NO_TRADE_ID}), COALESCE(l.last_trade_id, {NO_TRADE_ID}), bars.revision,
    bars.complete, bars.source, bars.first_second, bars.last_second, bars.first_with_ids, bars.last_with_ids,
    bars.first_traded
FROM (
    SELECT open_time - (((open_time + {shift}) % {length}) + {length}) % {length} AS bar,
        MIN(open_time) AS first, MAX(open_time) AS last, MIN(CASE WHEN {traded} THEN open_time END) AS open_at,
        MIN({ids_first}) AS first_at, MAX({ids_last}) AS last_at,
        MIN({spans[0]}) AS first_second, MAX({spans[1]}) AS last_second,
        MIN({spans[2]}) AS first_with_ids, MAX({spans[3]}) AS last_with_ids, MIN({spans[4]}) AS first_traded,
        MAX(CASE WHEN {traded} THEN high END) AS high, MIN(CASE WHEN {traded} THEN low END) AS low,
        {"".join(f"SUM({part}) AS {name}, " for name, part in parts)}
        MAX(revision) AS revision, MIN(complete) AS complete, MIN(source) AS source
    FROM {table} WHERE sid = {sid} AND open_time BETWEEN {lo} AND {hi}
    GROUP BY bar ORDER BY bar LIMIT {limit}
) AS bars
JOIN {table} o ON o.sid = {sid} AND o.open_time = COALESCE(bars.open_at, bars.first)
JOIN {table} c ON c.sid = {sid} AND c.open_time = bars.last
LEFT JOIN {table} f ON f.sid = {sid} AND f.open_time = bars.first_at
LEFT JOIN {table} l ON l.sid = {sid} AND l.open_time = bars.last_at
ORDER BY bars.bar"""


def _minute_sql(*, sid: str, minute: str) -> str:
    """Insert the minutes row of ``minute`` (an expression) rolled up from its stored seconds."""
    one_minute = _bars_sql(
        "candles", sid=sid, lo=minute, hi=f"{minute} + {MINUTE_MS - 1}", shift="0", length=str(MINUTE_MS), limit="1"
    )
    return f"INSERT INTO minutes (sid, {', '.join(_BAR_COLUMNS)}) SELECT {sid}, * FROM ({one_minute})"


_NEW_MINUTE = f"(NEW.open_time - (NEW.open_time % {MINUTE_MS} + {MINUTE_MS}) % {MINUTE_MS})"
_NEW_IDS_FIRST = f"CASE WHEN NEW.first_trade_id != {NO_TRADE_ID} THEN NEW.open_time END"
_NEW_IDS_LAST = f"CASE WHEN NEW.last_trade_id != {NO_TRADE_ID} THEN NEW.open_time END"
# A flat second (no trades) adds no price but its close; alone in its minute it gives the open.
_NEW_HIGH = "CASE WHEN NEW.trades > 0 THEN NEW.high ELSE NEW.open END"
_NEW_LOW = "CASE WHEN NEW.trades > 0 THEN NEW.low ELSE NEW.open END"
_NEW_TRADED = "CASE WHEN NEW.trades > 0 THEN NEW.open_time END"
# Whether the new second's open (and flat high and low) replaces the minute's: it traded and the
# minute had not, or it is earlier and both or neither traded.
_NEW_OPENS = (
    "CASE WHEN (excluded.first_traded IS NULL) != (first_traded IS NULL) THEN excluded.first_traded IS NOT NULL "
    "ELSE COALESCE(excluded.first_traded < first_traded, excluded.first_second < first_second) END"
)
_BOTH_TRADED = "excluded.first_traded IS NOT NULL AND first_traded IS NOT NULL"
# Later of two open times where either may be NULL (no such second), and the earlier.
_LATEST = "MAX(COALESCE({0}, excluded.{0}), COALESCE(excluded.{0}, {0}))"
_EARLIEST = "MIN(COALESCE({0}, excluded.{0}), COALESCE(excluded.{0}, {0}))"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS symbols (sid INTEGER PRIMARY KEY, symbol TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS candles (sid INTEGER NOT NULL, open_time INTEGER NOT NULL, open INTEGER NOT NULL, "
    "high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL, "
    "volume INTEGER NOT NULL, volume_frac INTEGER NOT NULL, "
    "quote_volume INTEGER NOT NULL, quote_volume_frac INTEGER NOT NULL, trades INTEGER NOT NULL, "
    "taker_buy_volume INTEGER NOT NULL, taker_buy_volume_frac INTEGER NOT NULL, "
    "taker_buy_quote_volume INTEGER NOT NULL, taker_buy_quote_volume_frac INTEGER NOT NULL, "
    "first_trade_id INTEGER NOT NULL, last_trade_id INTEGER NOT NULL, revision INTEGER NOT NULL, "
    "complete INTEGER NOT NULL, source INTEGER NOT NULL, PRIMARY KEY (sid, open_time)) WITHOUT ROWID",
    # Every UTC minute holding a stored second, rolled up from its seconds, so bars of a minute or
    # longer read 60 times fewer rows. Triggers keep it: a new second folds into its minute, a
    # revised one has its minute rolled up again; retention deletes refresh it themselves.
    "CREATE TABLE IF NOT EXISTS minutes (sid INTEGER NOT NULL, "
    + "".join(f"{column} INTEGER, " for column in _BAR_COLUMNS)
    + "PRIMARY KEY (sid, open_time)) WITHOUT ROWID",
    f"""CREATE TRIGGER IF NOT EXISTS second_added AFTER INSERT ON candles BEGIN
    INSERT INTO minutes (sid, {", ".join(_BAR_COLUMNS)}) VALUES (NEW.sid, {_NEW_MINUTE},
        NEW.open, {_NEW_HIGH}, {_NEW_LOW}, NEW.close, {"".join(f"{part.format(row='NEW.')}, " for _, part in _PARTS)}
        NEW.first_trade_id, NEW.last_trade_id, NEW.revision, NEW.complete, NEW.source, NEW.open_time, NEW.open_time,
        {_NEW_IDS_FIRST}, {_NEW_IDS_LAST}, {_NEW_TRADED})
    ON CONFLICT (sid, open_time) DO UPDATE SET
        open = CASE WHEN {_NEW_OPENS} THEN excluded.open ELSE open END,
        high = CASE WHEN {_BOTH_TRADED} THEN MAX(high, excluded.high)
            WHEN {_NEW_OPENS} THEN excluded.high ELSE high END,
        low = CASE WHEN {_BOTH_TRADED} THEN MIN(low, excluded.low)
            WHEN {_NEW_OPENS} THEN excluded.low ELSE low END,
        close = CASE WHEN excluded.last_second > last_second THEN excluded.close ELSE close END,
        {"".join(f"{name} = {name} + excluded.{name}, " for name, _ in _PARTS)}
        first_trade_id = CASE WHEN excluded.first_with_ids < COALESCE(first_with_ids, excluded.first_with_ids + 1)
            THEN excluded.first_trade_id ELSE first_trade_id END,
        last_trade_id = CASE WHEN excluded.last_with_ids > COALESCE(last_with_ids, excluded.last_with_ids - 1)
            THEN excluded.last_trade_id ELSE last_trade_id END,
        revision = MAX(revision, excluded.revision),
        complete = MIN(complete, excluded.complete),
        source = MIN(source, excluded.source),
        first_second = MIN(first_second, excluded.first_second),
        last_second = MAX(last_second, excluded.last_second),
        first_with_ids = {_EARLIEST.format("first_with_ids")},
        last_with_ids = {_LATEST.format("last_with_ids")},
        first_traded = {_EARLIEST.format("first_traded")};
END""",
    f"""CREATE TRIGGER IF NOT EXISTS second_revised AFTER UPDATE ON candles BEGIN
    DELETE FROM minutes WHERE sid = NEW.sid AND open_time = {_NEW_MINUTE};
    {_minute_sql(sid="NEW.sid", minute=_NEW_MINUTE)};
END""",
    "CREATE TABLE IF NOT EXISTS active_symbols (symbol TEXT PRIMARY KEY) WITHOUT ROWID",
)
_UPSERT = (
    f"INSERT INTO candles (sid, {_COLUMNS}) VALUES ({', '.join('?' * (_COLUMNS.count(',') + 2))}) "
    "ON CONFLICT (sid, open_time) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS.split(", ")[1:])
    + " WHERE excluded.revision > candles.revision"
)
_SELECT = f"SELECT {_COLUMNS} FROM candles WHERE sid = ?"
_BARS: dict[Table, str] = {"candles": _bars_sql("candles"), "minutes": _bars_sql("minutes")}
# Retention: minutes whose every second went, then the one minute partly left.
_DROP_MINUTES = "DELETE FROM minutes WHERE sid = :sid AND open_time <= :minute"
_ADD_MINUTE = _minute_sql(sid=":sid", minute=":minute")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection, kind: Literal["DEFERRED", "IMMEDIATE"]) -> Iterator[None]:
    """One transaction: IMMEDIATE takes the write lock at once, DEFERRED reads one snapshot."""
    db.execute(f"BEGIN {kind}")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SqliteStore:
    """A ``CandleStore`` in the SQLite file at ``path``, created with its tables if absent."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connections: dict[int, sqlite3.Connection] = {}
        self._sids: dict[str, int] = {}
        self._closed = False
        db = self._db()
        # auto_vacuum only takes effect before the first table exists; WAL persists in the file.
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("PRAGMA journal_mode = WAL")
        for statement in _SCHEMA:
            db.execute(statement)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        db = self._connections.get(threading.get_ident())
        return db if db is not None else self._open()

    def _open(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError(f"candle store {self._path} is closed")
            # A connection outlives its thread only until the next thread opens one.
            alive = {thread.ident for thread in threading.enumerate()}
            for ident in [ident for ident in self._connections if ident not in alive]:
                self._connections.pop(ident).close()
            # check_same_thread off so close() can close every thread's connection; each is still
            # used by its own thread only.
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            self._connections[threading.get_ident()] = db
            return db

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for db in self._connections.values():
                db.close()
            self._connections.clear()

    def _sid(self, symbol: str) -> int | None:
        sid = self._sids.get(symbol)
        if sid is None:
            row = self._db().execute("SELECT sid FROM symbols WHERE symbol = ?", (symbol,)).fetchone()
            if row is None:
                return None
            sid = self._sids[symbol] = row[0]
        return sid

    def _sid_for_writing(self, db: sqlite3.Connection, symbol: str) -> int:
        sid = self._sid(symbol)
        if sid is None:
            db.execute("INSERT OR IGNORE INTO symbols (symbol) VALUES (?)", (symbol,))
            sid = db.execute("SELECT sid FROM symbols WHERE symbol = ?", (symbol,)).fetchone()[0]
        return sid

    def write(self, candles: Sequence[Candle]) -> list[Candle]:
        rows: list[tuple[Any, ...]] = []
        refused: list[Candle] = []
        db = self._db()
        try:
            with _transaction(db, "IMMEDIATE"):
                for candle in candles:
                    row = _encode(candle)
                    if row is None:
                        refused.append(candle)
                    else:
                        rows.append((self._sid_for_writing(db, candle.symbol), *row))
                db.executemany(_UPSERT, rows)
        except BaseException:
            self._sids.clear()  # a rolled-back symbol id may be handed out again to another symbol
            raise
        return refused

    def candles(self, symbol: str, start_ms: int, end_ms: int, limit: int) -> list[Candle]:
        sid = self._sid(symbol)
        if sid is None or limit <= 0:
            return []
        cursor = self._db().execute(
            f"{_SELECT} AND open_time BETWEEN ? AND ? ORDER BY open_time LIMIT ?", (sid, start_ms, end_ms, limit)
        )
        return [_decode(symbol, row) for row in cursor]

    def newest(self, symbol: str, limit: int) -> list[Candle]:
        sid = self._sid(symbol)
        if sid is None or limit <= 0:
            return []
        rows = self._db().execute(f"{_SELECT} ORDER BY open_time DESC LIMIT ?", (sid, limit)).fetchall()
        return [_decode(symbol, row) for row in reversed(rows)]

    def last_open_time(self, symbol: str) -> int | None:
        sid = self._sid(symbol)
        if sid is None:
            return None
        row = self._db().execute("SELECT MAX(open_time) FROM candles WHERE sid = ?", (sid,)).fetchone()
        return row[0]  # type: ignore[no-any-return]

    def klines(self, query: KlineQuery) -> list[Candle]:
        sid = self._sid(query.symbol)
        if sid is None or query.limit <= 0:
            return []
        if query.interval.length_ms == SECOND_MS and query.offset_ms % SECOND_MS == 0:
            seconds = self.candles(query.symbol, query.start_ms, query.end_ms, query.limit)
            if all(candle.open_time % SECOND_MS == 0 for candle in seconds):
                return seconds  # a candle of a whole second is its own 1 s bar
        db = self._db()
        with _transaction(db, "DEFERRED"):  # every round and piece from one snapshot
            return self._klines(db, sid, query)

    def _klines(self, db: sqlite3.Connection, sid: int, query: KlineQuery) -> list[Candle]:
        interval, offset = query.interval, query.offset_ms
        # Boundaries on whole minutes let whole minutes come from the minutes table.
        by_minute = offset % MINUTE_MS == 0 and (
            interval.months > 0 or (interval.length_ms - interval.anchor_ms) % MINUTE_MS == 0
        )
        bars: list[Candle] = []
        lo = query.start_ms
        # Each round reads from the first stored second on: as many fixed-length bars as are still
        # wanted, or one calendar month, so no more rows are grouped than the limit can use.
        while len(bars) < query.limit and lo <= query.end_ms:
            first = db.execute(
                "SELECT MIN(open_time) FROM candles WHERE sid = ? AND open_time BETWEEN ? AND ?",
                (sid, lo, query.end_ms),
            ).fetchone()[0]
            if first is None:
                break
            bar = interval.start_of(first, offset)
            wanted = query.limit - len(bars)
            if interval.months:
                length = interval.next_start(bar, offset) - bar
                shift = -bar
                hi = bar + length - 1
            else:
                length = interval.length_ms
                shift = offset - interval.anchor_ms
                hi = bar + wanted * length - 1
            hi = min(hi, query.end_ms)
            grouping = {"sid": sid, "shift": shift, "length": length, "limit": wanted}
            if by_minute:
                bars += self._bars_by_minute(db, query, grouping=grouping, lo=first, hi=hi)[:wanted]
            else:
                bars += self._bars(db, "candles", query, grouping | {"lo": first, "hi": hi})
            lo = hi + 1
        return bars

    def _bars(self, db: sqlite3.Connection, table: Table, query: KlineQuery, grouping: dict[str, int]) -> list[Candle]:
        return [_decode_bar(query, row) for row in db.execute(_BARS[table], grouping)]

    def _bars_by_minute(
        self, db: sqlite3.Connection, query: KlineQuery, *, grouping: dict[str, int], lo: int, hi: int
    ) -> list[Candle]:
        """Bars of [lo, hi]: the whole minutes inside from the minutes table, the seconds before
        the first and after the last from the candles. Those are less than a minute each, so at
        most one bar each, joined to its neighbour by the reference roll-up, which folds pieces of
        one bar as it folds seconds."""
        whole_from = -(-lo // MINUTE_MS) * MINUTE_MS
        whole_to = _minute_of(hi + 1) - 1
        if whole_from > whole_to:
            return self._bars(db, "candles", query, grouping | {"lo": lo, "hi": hi})
        bars = self._bars(db, "minutes", query, grouping | {"lo": whole_from, "hi": whole_to})
        if lo < whole_from:
            head = self._bars(db, "candles", query, grouping | {"lo": lo, "hi": whole_from - 1})
            bars = roll_up(head + bars[:1], query.interval, query.offset_ms) + bars[1:]
        if whole_to < hi:
            tail = self._bars(db, "candles", query, grouping | {"lo": whole_to + 1, "hi": hi})
            bars = bars[:-1] + roll_up(bars[-1:] + tail, query.interval, query.offset_ms)
        return bars

    def delete_before(self, cutoff_ms: int, most: int) -> int:
        db = self._db()
        deleted = 0
        with _transaction(db, "IMMEDIATE"):
            # Symbol by symbol, so each delete walks the oldest rows of one key range.
            for (sid,) in db.execute("SELECT sid FROM symbols ORDER BY sid").fetchall():
                if deleted >= most:
                    break
                newest_deleted = db.execute(
                    "SELECT MAX(open_time) FROM (SELECT open_time FROM candles WHERE sid = ? AND open_time < ? "
                    "ORDER BY open_time LIMIT ?)",
                    (sid, cutoff_ms, most - deleted),
                ).fetchone()[0]
                if newest_deleted is None:
                    continue
                deleted += db.execute(
                    "DELETE FROM candles WHERE sid = ? AND open_time <= ?", (sid, newest_deleted)
                ).rowcount
                minute = {"sid": sid, "minute": _minute_of(newest_deleted)}
                db.execute(_DROP_MINUTES, minute)
                db.execute(_ADD_MINUTE, minute)
        # The pragma frees one page per step and returns no rows, so execute() would stop after the
        # first; executescript steps every statement to its end.
        db.executescript("PRAGMA incremental_vacuum")
        return deleted

    def symbols(self) -> tuple[str, ...]:
        rows = self._db().execute("SELECT symbol FROM active_symbols ORDER BY symbol").fetchall()
        return tuple(symbol for (symbol,) in rows)

    def save_symbols(self, symbols: Iterable[str]) -> None:
        db = self._db()
        with _transaction(db, "IMMEDIATE"):
            db.execute("DELETE FROM active_symbols")
            db.executemany("INSERT OR IGNORE INTO active_symbols (symbol) VALUES (?)", [(s,) for s in symbols])


def _whole(value: Decimal, digits: int) -> int | None:
    """``value`` x 10^``digits`` if that is a whole number, else None."""
    if not value.is_finite() or value.adjusted() > LARGEST_ADJUSTED:
        return None
    scaled = value.scaleb(digits, _EXACT)
    whole = int(scaled)
    return whole if whole == scaled else None


def _scaled(value: Decimal, digits: int) -> int | None:
    """``value`` x 10^``digits`` if that is a whole number within int64, else None."""
    whole = _whole(value, digits)
    return whole if whole is not None and INT64_MIN <= whole <= INT64_MAX else None


def _split(value: Decimal, digits: int) -> tuple[int, int] | None:
    """``value`` as whole units (within int64) and fraction x 10^``digits``, if exact."""
    whole = _whole(value, digits)
    if whole is None:
        return None
    units, fraction = divmod(whole, 10**digits)
    return (units, fraction) if INT64_MIN <= units <= INT64_MAX else None


def _encode(candle: Candle) -> tuple[Any, ...] | None:
    """The columns after ``sid``, or None if one value cannot be held exactly."""
    prices = [_scaled(price, PRICE_DIGITS) for price in (candle.open, candle.high, candle.low, candle.close)]
    volume = _split(candle.volume, VOLUME_DIGITS)
    quote = _split(candle.quote_volume, QUOTE_DIGITS)
    taker = _split(candle.taker_buy_volume, VOLUME_DIGITS)
    taker_quote = _split(candle.taker_buy_quote_volume, QUOTE_DIGITS)
    if (
        None in prices
        or volume is None
        or quote is None
        or taker is None
        or taker_quote is None
        or candle.close_time != candle.open_time + SECOND_LENGTH_MS
        or not -MAX_TIME_MS <= candle.open_time <= MAX_TIME_MS
        or not 0 <= candle.trades <= MAX_TRADES
        or not all(INT64_MIN <= n <= INT64_MAX for n in (candle.first_trade_id, candle.last_trade_id, candle.revision))
    ):
        return None
    return (
        candle.open_time,
        *prices,
        *volume,
        *quote,
        candle.trades,
        *taker,
        *taker_quote,
        candle.first_trade_id,
        candle.last_trade_id,
        candle.revision,
        candle.complete,
        SOURCE_ORDER.index(candle.source),
    )


def _unscaled(value: int, digits: int) -> Decimal:
    return Decimal(value).scaleb(-digits, _EXACT)


def _decode(symbol: str, row: tuple[Any, ...]) -> Candle:
    open_time, o, h, lo, c, v, vf, q, qf, trades, tv, tvf, tq, tqf, first, last, revision, complete, source = row
    return Candle(
        symbol,
        open_time,
        open_time + SECOND_LENGTH_MS,
        _unscaled(o, PRICE_DIGITS),
        _unscaled(h, PRICE_DIGITS),
        _unscaled(lo, PRICE_DIGITS),
        _unscaled(c, PRICE_DIGITS),
        _unscaled(v * 10**VOLUME_DIGITS + vf, VOLUME_DIGITS),
        _unscaled(q * 10**QUOTE_DIGITS + qf, QUOTE_DIGITS),
        trades,
        _unscaled(tv * 10**VOLUME_DIGITS + tvf, VOLUME_DIGITS),
        _unscaled(tq * 10**QUOTE_DIGITS + tqf, QUOTE_DIGITS),
        first,
        last,
        revision,
        bool(complete),
        SOURCE_ORDER[source],
    )


def _minute_of(time_ms: int) -> int:
    return time_ms - time_ms % MINUTE_MS


def _joined(high: int, low: int, fraction: int, digits: int) -> Decimal:
    """A volume summed in SQL as whole units / 1e9, whole units % 1e9 and the scaled fraction."""
    return _unscaled((high * _SPLIT + low) * 10**digits + fraction, digits)


def _decode_bar(query: KlineQuery, row: tuple[Any, ...]) -> Candle:
    bar, o, h, lo, c, trades, vh, vl, vf, qh, ql, qfh, qfl, tvh, tvl, tvf, tqh, tql, tqfh, tqfl = row[:20]
    first_trade_id, last_trade_id, revision, complete, source = row[20:25]
    return Candle(
        query.symbol,
        bar,
        query.interval.next_start(bar, query.offset_ms) - 1,
        _unscaled(o, PRICE_DIGITS),
        _unscaled(h, PRICE_DIGITS),
        _unscaled(lo, PRICE_DIGITS),
        _unscaled(c, PRICE_DIGITS),
        _joined(vh, vl, vf, VOLUME_DIGITS),
        _joined(qh, ql, qfh * _SPLIT + qfl, QUOTE_DIGITS),
        trades,
        _joined(tvh, tvl, tvf, VOLUME_DIGITS),
        _joined(tqh, tql, tqfh * _SPLIT + tqfl, QUOTE_DIGITS),
        first_trade_id,
        last_trade_id,
        revision,
        bool(complete),
        SOURCE_ORDER[source],
    )
