"""Every system a test starts keeps its history in a fresh folder under one root, which the
session removes at its end (tests/conftest.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

DATA_ROOT = Path(tempfile.mkdtemp(prefix="candlecast-tests-"))


def fresh_data_dir() -> str:
    return tempfile.mkdtemp(dir=DATA_ROOT)
