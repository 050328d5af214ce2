"""One symbol's trade history as the exchange keeps it: what REST serves and tests compare.

Trades are grouped into aggregate trades as they arrive (consecutive trades with the same
price, side and time, as one taker order filling several makers), so ``aggTrades`` ids stay
stable however often they are asked for. The oldest trades are dropped past ``limit``
(``SimulatorConfig.kept_trades``) so a long-running simulator does not grow without bound.
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import Any

import msgspec

from candlecast.market_data import Trade
from candlecast.upstream.binance import rest_agg_trade, rest_trade


class _Aggregate(msgspec.Struct, frozen=True):
    agg_id: int
    first_id: int
    last_id: int
    time: int


class TradeRecord:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._trades: list[Trade] = []
        self._aggregates: list[_Aggregate] = []

    def append(self, trade: Trade) -> None:
        last = self._trades[-1] if self._trades else None
        if (
            last is not None
            and last.trade_id + 1 == trade.trade_id
            and (last.price, last.buyer_is_maker, last.time) == (trade.price, trade.buyer_is_maker, trade.time)
        ):
            self._aggregates[-1] = msgspec.structs.replace(self._aggregates[-1], last_id=trade.trade_id)
        else:
            # Aggregate ids count on from a number below the trade ids, as Binance's do.
            agg_id = self._aggregates[-1].agg_id + 1 if self._aggregates else trade.trade_id // 2
            self._aggregates.append(_Aggregate(agg_id, trade.trade_id, trade.trade_id, trade.time))
        self._trades.append(trade)
        if len(self._trades) > self._limit + self._limit // 4:
            self._forget_oldest()

    def all(self) -> tuple[Trade, ...]:
        return tuple(self._trades)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return [rest_trade(t) for t in self._trades[-limit:]]

    def from_id(self, from_id: int, limit: int) -> list[dict[str, Any]]:
        start = bisect.bisect_left(self._trades, from_id, key=lambda t: t.trade_id)
        return [rest_trade(t) for t in self._trades[start : start + limit]]

    def between(self, start_ms: int, end_ms: int) -> tuple[Decimal | None, tuple[Trade, ...]]:
        """The price of the last trade before ``start_ms`` (None if none is kept) and the trades
        from ``start_ms`` to ``end_ms``: what the exchange's klines of that range are made of."""
        low = bisect.bisect_left(self._trades, start_ms, key=lambda t: t.time)
        high = bisect.bisect_right(self._trades, end_ms, key=lambda t: t.time)
        return (self._trades[low - 1].price if low else None), tuple(self._trades[low:high])

    def aggregates(
        self, limit: int, from_id: int | None = None, start_time: int | None = None, end_time: int | None = None
    ) -> list[dict[str, Any]]:
        """Binance's rules: from ``from_id`` or ``start_time`` on, oldest first; else the latest."""
        groups = self._aggregates
        if from_id is not None:
            start = bisect.bisect_left(groups, from_id, key=lambda g: g.agg_id)
            chosen = groups[start : start + limit]
        else:
            low = 0 if start_time is None else bisect.bisect_left(groups, start_time, key=lambda g: g.time)
            high = len(groups) if end_time is None else bisect.bisect_right(groups, end_time, key=lambda g: g.time)
            chosen = groups[low:high][:limit] if start_time is not None else groups[low:high][-limit:]
        return [rest_agg_trade(g.agg_id, self._slice(g.first_id, g.last_id)) for g in chosen]

    def _slice(self, first_id: int, last_id: int) -> list[Trade]:
        start = bisect.bisect_left(self._trades, first_id, key=lambda t: t.trade_id)
        end = bisect.bisect_right(self._trades, last_id, key=lambda t: t.trade_id)
        return self._trades[start:end]

    def _forget_oldest(self) -> None:
        del self._trades[: len(self._trades) - self._limit]
        oldest = self._trades[0].trade_id
        keep = bisect.bisect_left(self._aggregates, oldest, key=lambda g: g.first_id)
        del self._aggregates[:keep]
