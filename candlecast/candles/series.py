"""Candle arithmetic with Binance kline semantics; pure, so it is tested without threads.

A trade belongs to second ``floor(T / 1000)`` of its exchange trade time. Sums use Decimal,
so volumes are exact. Taker-buy sums count trades whose buyer is the taker (``m`` false).
Open and close are the prices of the lowest and highest trade id, so trades may be folded in
any order (late and recovered trades arrive out of order) and give the same candle.
"""

from __future__ import annotations

import decimal
from collections.abc import Container, Sequence
from decimal import Decimal
from typing import Any, Literal

import msgspec

from candlecast.candles.gaps import OPENED, RECOVERED, UNRECOVERABLE, Gap, GapBook
from candlecast.candles.trade_ids import Hole, TradeIds
from candlecast.market_data import Candle, Trade
from candlecast.messages.backfill import RequestBackfill, RequestSeed, TradesRecovered
from candlecast.messages.history import CandleRange, CandlesRead, ReadCandles
from candlecast.upstream.binance import MAX_ADJUSTED_EXPONENT, MAX_SIGNIFICANT_DIGITS

ZERO = Decimal(0)

# Sums never round. A price or quantity has at most MAX_SIGNIFICANT_DIGITS digits and an adjusted
# exponent within +-MAX_ADJUSTED_EXPONENT (binance.check_trade), so the digits from the largest
# sum of 10**20 products down to the last digit of the smallest product fit in this many.
# Python's default of 28 would round large quote volumes. Threads take their decimal context
# from DefaultContext when they first use one, and this module is imported before the system
# starts any.
EXACT_DIGITS = 2 * (2 * MAX_ADJUSTED_EXPONENT + MAX_SIGNIFICANT_DIGITS) + 40
decimal.DefaultContext.prec = EXACT_DIGITS
decimal.getcontext().prec = EXACT_DIGITS
NO_TRADE_ID = -1

# What became of a price seed: the price before the first second, or why it is not.
SeedOutcome = Literal[
    "used", "not asked for", "failed", "after the first second", "older than the stream's", "too late"
]


def second_of(time_ms: int) -> int:
    return time_ms // 1000


# The fields a builder folds trades into, named as on Candle, so a published candle can be reopened.
_FOLDED = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "first_trade_id",
    "last_trade_id",
)


class CandleBuilder:
    """The open candle of one second; mutable, so it lives inside a single aggregator."""

    __slots__ = ("second", "symbol", *_FOLDED)

    def __init__(self, first: Trade) -> None:
        self.symbol = first.symbol
        self.second = second_of(first.time)
        self.open = self.high = self.low = first.price
        self.close = first.price
        self.volume = self.quote_volume = ZERO
        self.taker_buy_volume = self.taker_buy_quote_volume = ZERO
        self.trades = 0
        self.first_trade_id = first.trade_id
        self.last_trade_id = first.last_trade_id
        self.add(first)

    @classmethod
    def reopen(cls, candle: Candle) -> CandleBuilder:
        """A builder holding a published candle with trades, to fold a late trade into."""
        builder = cls.__new__(cls)
        builder.symbol = candle.symbol
        builder.second = candle.open_time // 1000
        for field in _FOLDED:
            setattr(builder, field, getattr(candle, field))
        return builder

    def add(self, trade: Trade) -> None:
        price = trade.price
        quote = price * trade.quantity
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        if trade.trade_id >= self.last_trade_id:
            self.close = price
            self.last_trade_id = trade.last_trade_id
        elif trade.trade_id < self.first_trade_id:
            self.open = price
            self.first_trade_id = trade.trade_id
        self.volume += trade.quantity
        self.quote_volume += quote
        if not trade.buyer_is_maker:
            self.taker_buy_volume += trade.quantity
            self.taker_buy_quote_volume += quote
        self.trades += trade.count

    def fold_run(self, trades: Sequence[Trade], start: int, next_id: int) -> int:
        """Fold trades from ``start`` on while each is the next id (``next_id`` first) of this
        second, as nearly every live trade is; returns the index of the first one that is not.
        The same sums as ``add``, kept in locals: this is the loop every live trade goes through."""
        begin_ms = self.second * 1000
        end_ms = begin_ms + 1000
        high, low, volume, quote_volume = self.high, self.low, self.volume, self.quote_volume
        taker_buy_volume, taker_buy_quote_volume = self.taker_buy_volume, self.taker_buy_quote_volume
        index, count = start, len(trades)
        while index < count:
            trade = trades[index]
            if trade.trade_id != next_id or trade.count != 1 or not begin_ms <= trade.time < end_ms:
                break
            price = trade.price
            quantity = trade.quantity
            quote = price * quantity
            if price > high:
                high = price
            elif price < low:
                low = price
            volume += quantity
            quote_volume += quote
            if not trade.buyer_is_maker:
                taker_buy_volume += quantity
                taker_buy_quote_volume += quote
            next_id += 1
            index += 1
        if index > start:
            self.high, self.low, self.volume, self.quote_volume = high, low, volume, quote_volume
            self.taker_buy_volume, self.taker_buy_quote_volume = taker_buy_volume, taker_buy_quote_volume
            self.close = trades[index - 1].price
            self.last_trade_id = next_id - 1
            self.trades += index - start
        return index

    def build(self) -> Candle:
        open_time = self.second * 1000
        return Candle(
            symbol=self.symbol,
            open_time=open_time,
            close_time=open_time + 999,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            quote_volume=self.quote_volume,
            trades=self.trades,
            taker_buy_volume=self.taker_buy_volume,
            taker_buy_quote_volume=self.taker_buy_quote_volume,
            first_trade_id=self.first_trade_id,
            last_trade_id=self.last_trade_id,
        )


def empty_candle(symbol: str, second: int, last_price: Decimal) -> Candle:
    """Binance's kline for a second without trades: flat at the previous close, ids -1."""
    open_time = second * 1000
    return Candle(
        symbol=symbol,
        open_time=open_time,
        close_time=open_time + 999,
        open=last_price,
        high=last_price,
        low=last_price,
        close=last_price,
        volume=ZERO,
        quote_volume=ZERO,
        trades=0,
        taker_buy_volume=ZERO,
        taker_buy_quote_volume=ZERO,
        first_trade_id=NO_TRADE_ID,
        last_trade_id=NO_TRADE_ID,
    )


def second_candles(
    symbol: str, trades: Sequence[Trade], *, previous_close: Decimal | None, first_s: int, last_s: int
) -> list[Candle]:
    """The candles of seconds ``first_s``..``last_s`` from all the ``trades`` in them (time order,
    none outside them), after a last price of ``previous_close`` (None: no trade before them, so
    no candle until the first): what a series publishes for them once every trade is in."""
    candles: list[Candle] = []
    close = previous_close
    index = 0
    for second in range(first_s, last_s + 1):
        if index < len(trades) and second_of(trades[index].time) == second:
            builder = CandleBuilder(trades[index])
            index += 1
            while index < len(trades) and second_of(trades[index].time) == second:
                builder.add(trades[index])
                index += 1
            candle = builder.build()
            close = candle.close
            candles.append(candle)
        elif close is not None:
            candles.append(empty_candle(symbol, second, close))
    return candles


class CandleSeries:
    """The candles of one symbol: which second is open, which are due, which need revising.

    Publishing starts with the first second that began after the subscription took effect
    (``start``); earlier seconds may miss trades, so their trades only give the price before
    it, as does a trade fetched over REST (``seed``): the newest of them by trade id prices the
    flat candles up to the first trade. Until ``start`` is told, the first second a trade is
    seen in is taken to have begun before the subscription. Each later
    second is published promptly: early when a trade of a later second arrives, otherwise when
    the clock says the second (plus grace) has passed. A late or recovered trade up to
    ``window_s`` old revises its candle (and the flat empty candles after it) instead of being
    dropped; gaps in the trade ids flag the candles they touch, and so does a trade refused
    upstream (``reject``). A trade ``window_s`` or more past the newest second is refused too,
    so no one trade can make the series publish more than the window.

    Published candles stay in memory for ``memory_s`` (the store has them all). A revision or a
    gap flag reaching back further asks for the stored candles (``ReadCandles``) and waits,
    parked, for their answer (``load``); while a read is out, and ``memory_s`` after each change
    to an older candle, nothing is forgotten, so what was read stays contiguous with the newest
    seconds and what changed is on disk before it leaves memory.

    Methods append what they produce to ``out``: candles to publish, ``GapEvent``,
    ``RequestBackfill`` and ``ReadCandles`` messages.
    """

    def __init__(self, symbol: str, fill_empty: bool = True, window_s: int = 3600, memory_s: int | None = None) -> None:
        self.symbol = symbol
        self.fill_empty = fill_empty
        self.window_s = window_s
        self.memory_s = window_s if memory_s is None else min(memory_s, window_s)
        self.ids = TradeIds()
        self.gaps = GapBook()
        self._open: CandleBuilder | None = None
        self._next_second: int | None = None
        self._first_second: int | None = None  # the first published; earlier ones give the price before it
        self._price_before_id = NO_TRADE_ID  # the trade that gave the price before the first second
        self._started = False
        self._stream_seen = False  # a trade was refused before the first second was fixed
        self._seed_asked = False
        self._last_price: Decimal | None = None
        self._published: dict[int, Candle] = {}  # ascending seconds
        # Published candles that late or recovered trades are changing, until re-published.
        self._revised: dict[int, CandleBuilder] = {}
        self._first_published: int | None = None
        self._stored_before: int | None = None  # published seconds before it are in the store only
        self._reading: CandleRange | None = None
        self._parked_trades: list[Trade] = []
        self._parked_gaps: list[Gap] = []
        self._hold_until = 0  # nothing is forgotten before this second has passed
        self._interrupted = False
        self.duplicates = 0
        self.late_applied = 0
        self.beyond_window = 0
        self.too_far_ahead = 0
        self.unpriced_seconds = 0  # seconds before the first trade not published: no price for them

    @property
    def last_price(self) -> Decimal | None:
        return self._last_price

    @property
    def started(self) -> bool:
        """Whether ``start`` was told."""
        return self._started

    def add_batch(self, trades: Sequence[Trade], out: list[Any]) -> None:
        """Fold in live trades in id order. Candles they change are re-published once, after
        all of them: a batch of late trades (a reader fallen behind the clock) is one revision,
        not one per trade, so catching up does not multiply the work."""
        index, count = 0, len(trades)
        while index < count:
            index = self._fold_in_order(trades, index)
            if index < count:
                self._take(trades[index], out)
                index += 1
        if self._revised:
            self._revise(out)

    def _fold_in_order(self, trades: Sequence[Trade], start: int) -> int:
        """Fold the run from ``start`` that continues the newest trade id inside the open
        second, in one pass; returns where the run ends. With a gap open every trade takes the
        general way, which bounds the gap."""
        builder = self._open
        newest = self.ids.newest
        if builder is None or newest is None or self.gaps.open:
            return start
        end = builder.fold_run(trades, start, newest[0] + 1)
        if end > start:
            last = trades[end - 1]
            self.ids.add(trades[start].trade_id, last.trade_id, last.time)
        return end

    def _take(self, trade: Trade, out: list[Any]) -> None:
        if self._too_far_ahead(trade):
            self.too_far_ahead += 1
            self.reject(trade.trade_id, "trade time too far ahead of the candles", out)
            return
        if not self.ids.add(trade.trade_id, trade.last_trade_id, trade.time):
            self.duplicates += 1
            return
        if self.gaps.open:
            self._bound_open_ended(trade)
        self._place(trade, out)

    def start(self, confirmed_ms: int, out: list[Any]) -> int | None:
        """The subscription took effect by ``confirmed_ms`` (exchange time): every second that
        began after it is complete, and publishing starts with the first of them, asking for
        the price before it (a ``RequestSeed``). A trade seen already means the stream ran
        through the rest of its second, so the second after it stays first. Only the first
        confirmation counts; returns the first second published (None: the next trade's)."""
        if not self._started:
            self._started = True
            if self._next_second is None and not self._stream_seen:
                self._first_second = self._next_second = confirmed_ms // 1000 + 1
                if self.fill_empty:
                    self._seed_asked = True
                    out.append(RequestSeed(symbol=self.symbol))
        return self._first_second

    def seed(self, trade: Trade | None, out: list[Any]) -> SeedOutcome:
        """The newest trade when the seed was asked for, after the subscription took effect, so
        every trade after it streams: it prices the seconds from the first on if it is older
        than they are and newer than the stream's trades before them. It joins the trade ids,
        so a trade missed between it and the stream shows as a gap."""
        if not self._seed_asked or self._first_second is None:
            return "not asked for"
        self._seed_asked = False
        if trade is None:
            return "failed"
        if trade.time // 1000 >= self._first_second:
            return "after the first second"
        if trade.last_trade_id <= self._price_before_id:
            return "older than the stream's"
        if self.unpriced_seconds:
            return "too late"
        self.ids.add(trade.trade_id, trade.last_trade_id, trade.time)
        self._note_price_before(trade, out)
        return "used"

    def settle(self, out: list[Any]) -> None:
        """Close every gap whose trades have all arrived."""
        for gap in list(self.gaps.open):
            if gap.last_id is not None and self.ids.covers(gap.first_id, gap.last_id):
                self.gaps.close(gap, recovered=True)
                out.append(gap.event(self.symbol, RECOVERED))
                self._reflag(gap, out)

    def recover(self, page: TradesRecovered, out: list[Any]) -> None:
        """Fold in one page of a backfill and close what it repairs."""
        for trade in page.trades:
            if self._too_far_ahead(trade):
                self.too_far_ahead += 1
                continue  # its gap stays open, and is given up below
            if self.ids.add(trade.trade_id, trade.last_trade_id, trade.time):
                self._place(trade, out)
            else:
                self.duplicates += 1
        if self._revised:
            self._revise(out)
        gap = self.gaps.find(page.first_id)
        if gap is not None and gap.last_id is None and page.finished:
            gap.last_id = page.through_id
            gap.to_second = self._newest_second()
        self.settle(out)
        if page.finished and gap is not None and gap in self.gaps.open:
            self.abandon(gap.first_id, "trades still missing after backfill", out)

    def reject(self, trade_id: int, reason: str, out: list[Any]) -> None:
        """Trade ``trade_id`` was refused (``reason``): it is missing, so a gap opens for it at
        once, flagging the candles it may belong to, and the backfill fetches the true trade.
        Its own time is not trusted: it lies after the newest trade seen before it (or, with none,
        after the subscription took effect), and before the next live one, which bounds the gap.
        Before a trade or a confirmation fixes the first second there is nothing it could
        change, and a confirmation after it keeps to what the trades will show."""
        if self.ids.covers(trade_id, trade_id) or self.gaps.knows(trade_id, trade_id):
            return  # it arrived after all (the other socket of a rotation), or is known missing
        first = self._first_second
        if first is None:
            self._stream_seen = True
            return
        newest = self.ids.newest
        if newest is None or trade_id > newest[0]:
            after_time = (first - 1) * 1000 if newest is None else newest[1]
            self._open_gap(
                Gap(
                    first_id=trade_id,
                    last_id=trade_id,
                    from_second=after_time // 1000,
                    to_second=None,
                    after_time=after_time,
                ),
                out,
                reason,
            )
            return
        hole = next((h for h in self.ids.holes() if h.first_id <= trade_id <= h.last_id), None)
        if hole is not None:
            self._open_gap(_hole_gap(hole), out, reason)

    def abandon(self, first_id: int, reason: str, out: list[Any]) -> None:
        gap = self.gaps.find(first_id)
        if gap is None:
            return
        if gap.to_second is None:
            gap.to_second = self._newest_second()
        if gap.last_id is not None:
            self.ids.fill(gap.first_id, gap.last_id)
        self.gaps.close(gap, recovered=False)
        out.append(gap.event(self.symbol, UNRECOVERABLE, reason))

    def interrupt(self, out: list[Any], silent_since_ms: int | None = None) -> None:
        """The stream stopped: whatever trades follow the newest one are unknown for now, and
        so are the candles since the stream last showed a frame (``silent_since_ms``)."""
        if self._interrupted:
            return
        self._interrupted = True
        newest = self.ids.newest
        if newest is None or self._next_second is None or any(g.last_id is None for g in self.gaps.open):
            return
        from_second = self._open.second if self._open is not None else self._next_second
        if silent_since_ms is not None:
            # Missed trades come after the newest one seen; a second's margin covers trades
            # still in flight when the last frame arrived.
            from_second = min(from_second, max(silent_since_ms - 1000, newest[1]) // 1000)
        # A rejected trade past the newest one has its own gap already.
        first_id = max([newest[0], *(g.last_id for g in self.gaps.open if g.last_id is not None)]) + 1
        self._open_gap(
            Gap(first_id=first_id, last_id=None, from_second=from_second, to_second=None, after_time=newest[1]), out
        )

    def resume(self, out: list[Any]) -> None:
        """The stream is back: ask for everything after the newest trade seen before it stopped."""
        if not self._interrupted:
            return
        self._interrupted = False
        for gap in self.gaps.open:
            if not gap.requested:
                out.append(self._backfill_request(gap))

    def elapse(self, second: int, out: list[Any]) -> None:
        """The clock passed the end of ``second``: confirm holes, close everything through it."""
        self._confirm_holes(out)
        if self._next_second is None:
            return
        pending_from = self._open.second if self._open is not None else self._next_second
        if pending_from <= second:
            self._close_through(second, out)
            self._next_second = second + 1
        self._forget_before(second - self.window_s, out)

    def load(self, read: CandlesRead, out: list[Any]) -> None:
        """The stored candles asked for arrived: what waited for them is placed now. A second
        the store has no candle for takes no late trade, as one past the window would not."""
        asked = self._reading
        if asked is None or read.ranges != (asked,):
            return
        self._reading = None
        first, before = asked.start_ms // 1000, asked.end_ms // 1000 + 1
        stored = {c.open_time // 1000: c for c in read.candles if first <= c.open_time // 1000 < before}
        self._published = {second: stored[second] for second in sorted(stored)} | self._published
        self._stored_before = first
        self._hold_until = max(self._hold_until, self._newest_second() + self.memory_s)
        trades, self._parked_trades = self._parked_trades, []
        gaps, self._parked_gaps = self._parked_gaps, []
        for trade in trades:
            self._place(trade, out)
        if self._revised:
            self._revise(out)
        for gap in gaps:
            self._reflag(gap, out)

    # --- placing trades ------------------------------------------------------------------

    def _place(self, trade: Trade, out: list[Any]) -> None:
        revised = self._revised
        second = trade.time // 1000
        open_candle = self._open
        if open_candle is not None and second == open_candle.second:
            open_candle.add(trade)
        elif self._next_second is None:
            self._first_second = self._next_second = second + 1
            self._note_price_before(trade, out)
        elif second >= self._next_second:
            self._close_through(second - 1, out)
            self._open = CandleBuilder(trade)
            self._next_second = second + 1
        elif self._first_second is not None and second < self._first_second:
            if self._in_store(self._first_second):  # the flat candles it prices have left memory
                self._park(trade, self._first_second, out)
            else:
                self._note_price_before(trade, out)
        elif second in revised:
            revised[second].add(trade)
            self.late_applied += 1
        elif second in self._published:
            candle = self._published[second]
            if candle.trades:
                builder = CandleBuilder.reopen(candle)
                builder.add(trade)
            else:
                builder = CandleBuilder(trade)
            revised[second] = builder
            self.late_applied += 1
        elif self._in_store(second):
            self._park(trade, second, out)
        else:
            self.beyond_window += 1

    def _park(self, trade: Trade, first: int, out: list[Any]) -> None:
        """Hold a trade for seconds from ``first`` that are in the store only, and read them."""
        self._parked_trades.append(trade)
        self._read_from(first, out)

    def _note_price_before(self, trade: Trade, out: list[Any]) -> None:
        """The newest trade before the first second gives the price of the flat candles from it
        on, also when it arrives after some of them were published; before any price was
        known, the seconds closed without one get their flat candles now."""
        first = self._first_second
        if trade.last_trade_id <= self._price_before_id or first is None or self._next_second is None:
            return
        self._price_before_id = trade.last_trade_id
        if self._last_price is None:
            self._last_price = trade.price
            end = self._open.second if self._open is not None else self._next_second
            self._publish_flats(first, end, trade.price, out)
        else:
            self._reprice_flats_after(first - 1, trade.price, out)

    def _too_far_ahead(self, trade: Trade) -> bool:
        return self._next_second is not None and trade.time // 1000 >= self._next_second + self.window_s

    def _bound_open_ended(self, trade: Trade) -> None:
        """The first live trade after a gap whose end is unknown ends it: in ids and time after
        an interruption, in time after a rejected trade."""
        for gap in self.gaps.open:
            if gap.to_second is None and trade.trade_id > (gap.first_id - 1 if gap.last_id is None else gap.last_id):
                if gap.last_id is None:
                    gap.last_id = trade.trade_id - 1
                gap.to_second = trade.time // 1000

    # --- publishing ----------------------------------------------------------------------

    def _publish(self, candle: Candle, out: list[Any]) -> None:
        """Publish a candle, or re-publish it with the next revision if anything changed."""
        second = candle.open_time // 1000
        complete = not self.gaps.touches(second)
        old = self._published.get(second)
        if old is None:
            new = candle if complete else msgspec.structs.replace(candle, complete=False)
            if self._first_published is None or second < self._first_published:
                self._first_published = second
        else:
            new = msgspec.structs.replace(candle, revision=old.revision, complete=complete)
            if new == old:
                return
            new = msgspec.structs.replace(new, revision=old.revision + 1)
            if second < self._newest_second() - self.memory_s:
                # Kept until the store surely has it: a second change then reads it back.
                self._hold_until = max(self._hold_until, self._newest_second() + self.memory_s)
        self._published[second] = new
        out.append(new)

    def _close_through(self, last_second: int, out: list[Any]) -> None:
        """Publish the open candle, then the empty seconds after it, through ``last_second``."""
        first_empty = self._next_second
        price = self._last_price
        if self._open is not None:
            candle = self._open.build()
            second = candle.open_time // 1000
            if price is None and self.fill_empty and self._first_second is not None:
                self.unpriced_seconds += second - self._first_second
            self._publish(candle, out)
            first_empty = second + 1
            price = candle.close
            self._open = None
        if price is not None and first_empty is not None:
            self._publish_flats(first_empty, last_second + 1, price, out)
        self._last_price = price

    def _publish_flats(self, first: int, end: int, price: Decimal, out: list[Any]) -> None:
        """Publish seconds ``first`` up to ``end`` as flat empty candles at ``price``, if wanted."""
        if self.fill_empty:
            # Seconds before the window would be forgotten at once: a clock far ahead must not
            # have them built one by one.
            for empty_second in range(max(first, end - self.window_s), end):
                self._publish(empty_candle(self.symbol, empty_second, price), out)

    def _revise(self, out: list[Any]) -> None:
        """Re-publish changed candles and the flat empty candles that follow each of them."""
        revised, self._revised = self._revised, {}
        for second in sorted(revised):
            candle = revised[second].build()
            self._publish(candle, out)
            self._reprice_flats_after(second, candle.close, out, revised)

    def _reprice_flats_after(self, second: int, price: Decimal, out: list[Any], revised: Container[int] = ()) -> None:
        """Re-publish the flat empty candles after ``second`` at ``price``, its close now, up to
        the next candle with trades (or one in ``revised``); if they reach the newest second,
        the price carries on to the seconds to come."""
        following = second + 1
        while following not in revised and (after := self._published.get(following)) is not None and not after.trades:
            self._publish(empty_candle(self.symbol, following, price), out)
            following += 1
        if self._next_second is not None and following >= self._next_second:
            self._last_price = price

    # --- gaps ----------------------------------------------------------------------------

    def _confirm_holes(self, out: list[Any]) -> None:
        """A hole still open at a clock tick is a gap (holes that close within a tick, as two
        sockets overlap during a rotation, are not)."""
        for hole in list(self.ids.holes()):
            if not self.gaps.knows(hole.first_id, hole.last_id):
                self._open_gap(_hole_gap(hole), out)

    def _open_gap(self, gap: Gap, out: list[Any], detail: str = "") -> None:
        self.gaps.add(gap)
        out.append(gap.event(self.symbol, OPENED, detail))
        if gap.last_id is not None:
            out.append(self._backfill_request(gap))
        self._reflag(gap, out)

    def _backfill_request(self, gap: Gap) -> RequestBackfill:
        gap.requested = True
        return RequestBackfill(
            symbol=self.symbol, first_id=gap.first_id, last_id=gap.last_id, after_time=gap.after_time
        )

    def _reflag(self, gap: Gap, out: list[Any]) -> None:
        """Re-publish the kept candles a gap touches, now that it opened or closed: through the
        newest second, as while its end was unknown it flagged every candle published; those
        only in the store once they are read back."""
        first = max(gap.from_second, self._window_start(), self._first_published or gap.from_second)
        if self._in_store(first):
            self._parked_gaps.append(gap)
            self._read_from(first, out)
        for second in range(max(gap.from_second, self._oldest_second()), self._newest_second() + 1):
            candle = self._published.get(second)
            if candle is not None:
                self._publish(candle, out)

    def _oldest_second(self) -> int:
        return next(iter(self._published), 0)

    def _newest_second(self) -> int:
        return (self._next_second or 1) - 1

    def _window_start(self) -> int:
        """The oldest second a late trade may still revise."""
        return self._newest_second() - self.window_s

    def _in_store(self, second: int) -> bool:
        """Whether ``second`` was published, left memory and may still be revised."""
        stored_before = self._stored_before
        first = self._first_published
        return (
            stored_before is not None
            and first is not None
            and max(first, self._window_start()) <= second < stored_before
        )

    def _read_from(self, first: int, out: list[Any]) -> None:
        """Ask for the stored candles from ``first`` up to those in memory, unless a read is
        out already: what it does not cover is asked for once it is answered."""
        if self._reading is not None or self._stored_before is None:
            return
        self._reading = CandleRange(self.symbol, first * 1000, self._stored_before * 1000 - 1)
        out.append(ReadCandles(request=0, ranges=(self._reading,), limit=self._stored_before - first))

    def _forget_before(self, cutoff: int, out: list[Any]) -> None:
        """Forget what is older than the window (``cutoff``) and, unless a read is out or a
        change to an older candle is recent, the published candles older than ``memory_s``."""
        kept_from = cutoff
        if self._reading is None and self._newest_second() >= self._hold_until:
            kept_from = max(cutoff, self._newest_second() - self.memory_s)
        published = self._published
        if published and next(iter(published)) < kept_from:
            while published and next(iter(published)) < kept_from:
                del published[next(iter(published))]
            self._stored_before = max(kept_from, self._stored_before or kept_from)
        for gap in list(self.gaps.open):
            if gap.from_second < cutoff:
                self.abandon(gap.first_id, "older than the backfill window", out)
        self.gaps.forget_before(cutoff)


def _hole_gap(hole: Hole) -> Gap:
    """The gap of a hole in the trade ids: the seconds from the trade before it to the one after."""
    return Gap(
        first_id=hole.first_id,
        last_id=hole.last_id,
        from_second=hole.after_time // 1000,
        to_second=hole.before_time // 1000,
        after_time=hole.after_time,
    )
