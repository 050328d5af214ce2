"""Which candle store ``--db`` names: empty for the embedded SQLite file in the data directory,
a ``postgresql://`` URL for PostgreSQL, whose driver is imported only when asked for."""

from __future__ import annotations

import pathlib

from candlecast.history.sqlite import SqliteStore
from candlecast.history.store import CandleStore

SQLITE_FILE = "candles.sqlite3"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(db: str, data_dir: pathlib.Path) -> CandleStore:
    """The store ``db`` names; ValueError for anything but empty or a PostgreSQL URL."""
    if not db:
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStore(data_dir / SQLITE_FILE)
    if db.startswith(POSTGRES_SCHEMES):
        from candlecast.history.postgres import PostgresStore  # noqa: PLC0415  (psycopg only when asked)

        return PostgresStore(db)
    raise ValueError(
        f"--db {db!r} is neither empty (SQLite in the data directory) nor a postgresql:// or postgres:// URL"
    )
