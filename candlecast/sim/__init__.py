"""A Binance-compatible spot exchange on loopback: REST market data and trade streams.

Who tells whom::

    Pacer thread --TradesDue--> ExchangeHub (actor: trade records, connections, limits, faults)
    Ticker thread --Tick------>
                                   |  offer(frame)            ^ ask (with timeout)
                                   v                          |
    stream thread per client <- WebSocketSession      REST threads (waitress)
         |  ClientOpened / FrameReceived / ClientRequest / ClientClosed
         +------------------------------> ExchangeHub

Use ``Simulator(SimulatorConfig(...))`` in tests, ``python -m candlecast.sim`` standalone.
"""

from candlecast.sim.config import SimulatorConfig
from candlecast.sim.messages import SimulatorStats
from candlecast.sim.replay import ReplaySource
from candlecast.sim.server import Simulator

__all__ = ["ReplaySource", "Simulator", "SimulatorConfig", "SimulatorStats"]
