"""A Binance-compatible spot exchange on loopback: REST market data and trade streams.

One actor, the ``ExchangeHub``, owns the trade records, connections, limits and faults; a pacer
and a ticker thread tell it time has come, each stream client has a session thread, and REST
threads ask it. Use ``Simulator(SimulatorConfig(...))`` in tests, ``python -m candlecast.sim``
standalone (docs/simulator.md).
"""

from candlecast.sim.config import SimulatorConfig
from candlecast.sim.messages import SimulatorStats
from candlecast.sim.replay import ReplaySource
from candlecast.sim.server import Simulator

__all__ = ["ReplaySource", "Simulator", "SimulatorConfig", "SimulatorStats"]
