"""``--db`` picks the engine: empty for the SQLite file in the data directory; anything other
than a PostgreSQL URL is refused, naming what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast.history.engines import open_store
from candlecast.history.sqlite import SqliteStore
from tests.history.seconds import second


def test_no_db_is_sqlite_in_the_data_directory_created_if_absent(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    store = open_store("", data_dir)
    assert isinstance(store, SqliteStore)
    store.write([second(1_000)])
    store.close()
    assert (data_dir / "candles.sqlite3").is_file()


@pytest.mark.parametrize("db", ["mysql://host/db", "sqlite:///candles.db", "candles.sqlite3", "postgresql:/x"])
def test_anything_but_a_postgresql_url_is_refused(tmp_path: Path, db: str) -> None:
    with pytest.raises(ValueError, match=r"postgresql://"):
        open_store(db, tmp_path)
    assert not any(tmp_path.iterdir()), "nothing created"
