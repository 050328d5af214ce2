"""What the market says, as values: trades, closed candles and gaps in a symbol's trade ids.

Actors tell them to one another as they are: frozen, slotted structs holding only values, so
any thread may read them without copies or locks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from candlecast.messages.base import Message

GapKind = Literal["gap", "recovered", "unrecoverable"]
# What a candle was built from: the live trade stream, the exchange's trade history over REST
# (a restart's catch-up), or the exchange's own 1 s klines (no trade ids in them).
CandleSource = Literal["live", "trades", "klines"]


class MarketData(Message, frozen=True, gc=False):
    """Holds values only, so never part of a reference cycle: ``gc=False`` keeps the millions
    of trades and candles held out of every garbage collection."""


class Trade(MarketData, frozen=True):
    """One exchange trade; ``time`` is the exchange's trade time in epoch milliseconds."""

    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    time: int
    buyer_is_maker: bool
    # More than 1 only for an aggTrades row recovered over REST: ``count`` consecutive trades
    # from ``trade_id`` at one price, time and side, with ``quantity`` their sum.
    count: int = 1

    @property
    def last_trade_id(self) -> int:
        return self.trade_id + self.count - 1


class TradeBatch(MarketData, frozen=True):
    """Consecutive trades of one symbol, in trade-id order; batching keeps mailboxes short."""

    symbol: str
    trades: tuple[Trade, ...]


class TradesArrived(MarketData, frozen=True):
    """Every routed trade a reader read in the last 10 ms, of any symbol, in arrival order: the
    trade channel and the latest tick follow the stream as it arrives. While two sockets overlap
    a trade can arrive twice; receivers that care deduplicate."""

    trades: tuple[Trade, ...]


class Candle(MarketData, frozen=True):
    """A closed 1-second kline, field for field as Binance publishes it.

    ``revision`` counts re-publications (0 first) after late or recovered trades changed it;
    ``complete`` is false while a gap in the symbol's trade ids may cover its second; ``source``
    is last, so JSON can leave out the usual ``live`` (``encoding``).
    """

    symbol: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal
    first_trade_id: int
    last_trade_id: int
    revision: int = 0
    complete: bool = True
    source: CandleSource = "live"


class GapEvent(MarketData, frozen=True):
    """A gap in a symbol's trade ids opened (``gap``), was ``recovered``, or is given up as
    ``unrecoverable``.

    ``last_trade_id`` is None while the end is unknown (the stream was interrupted);
    ``from_time``/``to_time`` bound the candles it may affect (``to_time`` None: up to now).
    """

    symbol: str
    kind: GapKind
    first_trade_id: int
    last_trade_id: int | None
    from_time: int
    to_time: int | None
    detail: str = ""
