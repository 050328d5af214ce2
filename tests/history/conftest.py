"""A fresh, empty candle store of every engine for each test: the contract tests run once per engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from candlecast.history.engines import open_store
from candlecast.history.store import CandleStore

ENGINES = ["sqlite", "postgresql"]
POSTGRES_HELPERS = Path(__file__).resolve().parents[1] / "postgres.py"


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CandleStore]:
    if request.param == "sqlite":
        db = ""
    elif POSTGRES_HELPERS.exists():
        db = request.getfixturevalue("postgres_url")  # a fresh database, from tests/postgres.py
    else:
        pytest.skip("tests/postgres.py not present")
    opened = open_store(db, tmp_path / "data")
    yield opened
    opened.close()
