"""Fixtures the system tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from candlecast.sim import Simulator
from tests.conftest import make_simulator


@pytest.fixture
def busy() -> Iterator[Simulator]:
    """A simulator trading BTCUSDT alone, about 20 trades a second."""
    sim = make_simulator(symbols=("BTCUSDT",), trades_per_second=20.0, seed=5)
    sim.start()
    yield sim
    sim.stop()
