"""A Binance-compatible spot exchange on loopback: REST market data and trade streams.

Who tells whom::

    Pacer thread --TradesDue--> ExchangeHub (actor: trade records, connections)
                                   |  offer(frame)            ^ ask (with timeout)
                                   v                          |
    stream thread per client <- WebSocketSession      REST threads (waitress)
         |  ClientOpened / ClientRequest / ClientClosed
         +------------------------------> ExchangeHub

Use ``Simulator(SimulatorConfig(...))`` in tests, ``python -m candlecast.sim`` standalone.
"""

from candlecast.sim.replay import ReplaySource
from candlecast.sim.server import Simulator, SimulatorConfig

__all__ = ["ReplaySource", "Simulator", "SimulatorConfig"]
