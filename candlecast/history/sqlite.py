"""The embedded candle store: one SQLite file, exact without a decimal type.

Prices are INTEGERs x 1e8 and every volume is two INTEGERs, whole units and fraction (x 1e8, quote
volumes x 1e16), since one scaled INTEGER overflows 2^63 on real volumes. Roll-ups sum the parts in
SQL, split again so no SUM can overflow, and join them in Python Decimal. A value these columns
cannot hold exactly is refused, never rounded. Each thread gets its own connection.
"""

from __future__ import annotations

import decimal
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from candlecast.candles.series import NO_TRADE_ID
from candlecast.history.store import SOURCE_ORDER, KlineQuery
from candlecast.market_data import Candle

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PRICE_DIGITS = 8
VOLUME_DIGITS = 8
QUOTE_DIGITS = 16
LARGEST_ADJUSTED = 40  # any value above 1e40 is far beyond int64 once scaled; checked before scaling
SECOND_LENGTH_MS = 999  # close_time - open_time of a 1 s candle, the only close_time kept
BUSY_TIMEOUT_MS = 10_000
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # the WAL is truncated back to this after a checkpoint
# Scaling changes only the exponent; no precision a value can have makes it round.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_SPLIT = 10**9  # sums of whole units and of 1e16 fractions are split by this in SQL, so none overflows

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
    "CREATE TABLE IF NOT EXISTS active_symbols (symbol TEXT PRIMARY KEY) WITHOUT ROWID",
)
_COLUMNS = (
    "open_time, open, high, low, close, volume, volume_frac, quote_volume, quote_volume_frac, trades, "
    "taker_buy_volume, taker_buy_volume_frac, taker_buy_quote_volume, taker_buy_quote_volume_frac, "
    "first_trade_id, last_trade_id, revision, complete, source"
)
_UPSERT = (
    f"INSERT INTO candles (sid, {_COLUMNS}) VALUES ({', '.join('?' * (_COLUMNS.count(',') + 2))}) "
    "ON CONFLICT (sid, open_time) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS.split(", ")[1:])
    + " WHERE excluded.revision > candles.revision"
)
_SELECT = f"SELECT {_COLUMNS} FROM candles WHERE sid = ?"


def _split_sums(column: str, digits: int) -> list[str]:
    """SQL sums of a volume's parts: whole units / 1e9 and % 1e9, then its fraction, a 1e16
    fraction also split by 1e9. Joined in ``_joined``; no sum of them can overflow."""
    fractions = (
        [f"{column}_frac"] if digits == VOLUME_DIGITS else [f"{column}_frac / {_SPLIT}", f"{column}_frac % {_SPLIT}"]
    )
    return [f"SUM({part})" for part in [f"{column} / {_SPLIT}", f"{column} % {_SPLIT}", *fractions]]


_SUMS = [
    *_split_sums("volume", VOLUME_DIGITS),
    *_split_sums("quote_volume", QUOTE_DIGITS),
    "SUM(trades)",
    *_split_sums("taker_buy_volume", VOLUME_DIGITS),
    *_split_sums("taker_buy_quote_volume", QUOTE_DIGITS),
    "MAX(revision)",
    "MIN(complete)",
    "MIN(source)",  # the least exact (SOURCE_ORDER)
]
# Bars of [lo, hi] grouped by ``open_time - floormod(open_time + shift, length)``: a fixed-length
# interval's open time, or one calendar month when the range is that month alone. Open, close and
# the trade ids come from the seconds MIN/MAX find, looked up by key.
_KLINES = f"""
WITH bars AS (
    SELECT open_time - (((open_time + :shift) % :length) + :length) % :length AS bar,
        MIN(open_time) AS first, MAX(open_time) AS last,
        MIN(CASE WHEN first_trade_id != {NO_TRADE_ID} THEN open_time END) AS first_traded,
        MAX(CASE WHEN last_trade_id != {NO_TRADE_ID} THEN open_time END) AS last_traded,
        MAX(high) AS high, MIN(low) AS low, {", ".join(f"{total} AS s{i}" for i, total in enumerate(_SUMS))}
    FROM candles WHERE sid = :sid AND open_time BETWEEN :lo AND :hi
    GROUP BY bar ORDER BY bar LIMIT :limit
)
SELECT bars.bar, o.open, bars.high, bars.low, c.close, {", ".join(f"bars.s{i}" for i in range(len(_SUMS)))},
    f.first_trade_id, l.last_trade_id
FROM bars
JOIN candles o ON o.sid = :sid AND o.open_time = bars.first
JOIN candles c ON c.sid = :sid AND c.open_time = bars.last
LEFT JOIN candles f ON f.sid = :sid AND f.open_time = bars.first_traded
LEFT JOIN candles l ON l.sid = :sid AND l.open_time = bars.last_traded
ORDER BY bars.bar
"""


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
        db.execute("BEGIN IMMEDIATE")
        try:
            for candle in candles:
                row = _encode(candle)
                if row is None:
                    refused.append(candle)
                else:
                    rows.append((self._sid_for_writing(db, candle.symbol), *row))
            db.executemany(_UPSERT, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            # A rolled-back symbol id may be handed out again to another symbol.
            self._sids.clear()
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
        interval, offset = query.interval, query.offset_ms
        bars: list[Candle] = []
        if sid is None:
            return bars
        db = self._db()
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
            if interval.months:
                length = interval.next_start(bar, offset) - bar
                shift = -bar
                hi = bar + length - 1
            else:
                length = interval.length_ms
                shift = offset - interval.anchor_ms
                hi = bar + (query.limit - len(bars)) * length - 1
            cursor = db.execute(
                _KLINES,
                {
                    "sid": sid,
                    "lo": first,
                    "hi": min(hi, query.end_ms),
                    "shift": shift,
                    "length": length,
                    "limit": query.limit - len(bars),
                },
            )
            bars.extend(_decode_bar(query, row) for row in cursor)
            lo = hi + 1
        return bars

    def delete_before(self, cutoff_ms: int, most: int) -> int:
        db = self._db()
        deleted = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            # Symbol by symbol, so each delete walks the oldest rows of one key range.
            for (sid,) in db.execute("SELECT sid FROM symbols ORDER BY sid").fetchall():
                if deleted >= most:
                    break
                deleted += db.execute(
                    "DELETE FROM candles WHERE sid = ?1 AND open_time IN "
                    "(SELECT open_time FROM candles WHERE sid = ?1 AND open_time < ?2 ORDER BY open_time LIMIT ?3)",
                    (sid, cutoff_ms, most - deleted),
                ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # The pragma frees one page per step and returns no rows, so execute() would stop after the
        # first; executescript steps every statement to its end.
        db.executescript("PRAGMA incremental_vacuum")
        return deleted

    def symbols(self) -> tuple[str, ...]:
        rows = self._db().execute("SELECT symbol FROM active_symbols ORDER BY symbol").fetchall()
        return tuple(symbol for (symbol,) in rows)

    def save_symbols(self, symbols: Iterable[str]) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM active_symbols")
            db.executemany("INSERT OR IGNORE INTO active_symbols (symbol) VALUES (?)", [(s,) for s in symbols])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _scaled(value: Decimal, digits: int) -> int | None:
    """``value`` x 10^``digits`` if that is a whole number within int64, else None."""
    if not value.is_finite() or value.adjusted() > LARGEST_ADJUSTED:
        return None
    scaled = value.scaleb(digits, _EXACT)
    whole = int(scaled)
    return whole if whole == scaled and INT64_MIN <= whole <= INT64_MAX else None


def _split(value: Decimal, digits: int) -> tuple[int, int] | None:
    """``value`` as whole units (within int64) and fraction x 10^``digits``, if exact."""
    if not value.is_finite() or value.adjusted() > LARGEST_ADJUSTED:
        return None
    scaled = value.scaleb(digits, _EXACT)
    whole = int(scaled)
    if whole != scaled:
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
    integers = (candle.open_time, candle.trades, candle.first_trade_id, candle.last_trade_id, candle.revision)
    if (
        None in prices
        or volume is None
        or quote is None
        or taker is None
        or taker_quote is None
        or candle.close_time != candle.open_time + SECOND_LENGTH_MS
        or not all(INT64_MIN <= value <= INT64_MAX for value in integers)
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


def _joined(high: int, low: int, fraction: int, digits: int) -> Decimal:
    """A sum split in SQL as whole units / 1e9, whole units % 1e9 and the scaled fraction."""
    return _unscaled((high * _SPLIT + low) * 10**digits + fraction, digits)


def _joined16(high: int, low: int, fraction_high: int, fraction_low: int) -> Decimal:
    return _joined(high, low, fraction_high * _SPLIT + fraction_low, QUOTE_DIGITS)


def _decode_bar(query: KlineQuery, row: tuple[Any, ...]) -> Candle:
    (bar, o, h, lo, c, vh, vl, vf, qh, ql, qfh, qfl, trades) = row[:13]
    (tvh, tvl, tvf, tqh, tql, tqfh, tqfl, revision, complete, source, first_trade_id, last_trade_id) = row[13:]
    return Candle(
        query.symbol,
        bar,
        query.interval.next_start(bar, query.offset_ms) - 1,
        _unscaled(o, PRICE_DIGITS),
        _unscaled(h, PRICE_DIGITS),
        _unscaled(lo, PRICE_DIGITS),
        _unscaled(c, PRICE_DIGITS),
        _joined(vh, vl, vf, VOLUME_DIGITS),
        _joined16(qh, ql, qfh, qfl),
        trades,
        _joined(tvh, tvl, tvf, VOLUME_DIGITS),
        _joined16(tqh, tql, tqfh, tqfl),
        NO_TRADE_ID if first_trade_id is None else first_trade_id,
        NO_TRADE_ID if last_trade_id is None else last_trade_id,
        revision,
        bool(complete),
        SOURCE_ORDER[source],
    )
