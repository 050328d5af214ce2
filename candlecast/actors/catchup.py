"""The catch-up actor fills what a restart missed: for each symbol with stored history, the seconds
between its last stored candle and its first live one, over REST (``history.catchup``), on a
worker thread of its own, so live aggregation never waits for it.

It reads each symbol's last stored second as it is built, so it starts before the registry
streams. The worker tells its state after every step: /health reads the progress from the
actor, and a worker restarted after a failure carries on with the symbols not yet done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.history.catchup import CatchUpRange, kline_pages, plan, trade_pages
from candlecast.history.intervals import SECOND_MS
from candlecast.history.store import CandleStore
from candlecast.market_data import Candle
from candlecast.messages.base import Message
from candlecast.messages.catchup import GetCatchUpProgress
from candlecast.messages.supervision import ThreadEnded
from candlecast.runtime.progress import Progress, ProgressReport
from candlecast.runtime.supervision import Supervisor
from candlecast.runtime.threads import StoppableThread
from candlecast.upstream.trade_fetch import Fetcher, Stopped, WeightBudget

# Of --rest-weight-budget, what the catch-up may use: the live backfill always has the rest.
BUDGET_SHARE = 0.75
# How long to wait for a symbol's first live candle, which ends its range; then the range ends now.
FIRST_LIVE_WAIT_S = 60.0
POLL_S = 0.5
END_OF_TIME_MS = 2**62
ERROR_CHARS = 200
SYMBOLS_LOGGED = 10

log = structlog.get_logger(__name__)


class CatchUpState(Message, frozen=True):
    """The worker's state, told to its actor after each step: each symbol's first live second
    found (``bounds``), the symbols ``done`` (caught up, or given up), and its progress."""

    bounds: tuple[tuple[str, int], ...]
    done: frozenset[str]
    progress: ProgressReport | None


class CatchUpWorker(StoppableThread):
    """Catches up the symbols of ``marks`` (symbol, open time of its last stored candle before
    this start) not yet done in ``state``, then ends as if stopped."""

    def __init__(
        self,
        *,
        history: CandleStore,
        rest_url: str,
        weight_budget: int,
        marks: tuple[tuple[str, int], ...],
        window_s: int,
        trades_window_s: int,
        now_ms: Callable[[], int],
        owner: Any,
        state: CatchUpState,
        first_live_wait_s: float = FIRST_LIVE_WAIT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("catch-up", on_ended=lambda ended: tell_if_alive(owner, ended))
        self._history = history
        self._fetcher = Fetcher(rest_url, WeightBudget(max(1, int(weight_budget * BUDGET_SHARE))), self.stopped.wait)
        self._marks = dict(marks)
        self._window_s = window_s
        self._trades_window_s = trades_window_s
        self._now_ms = now_ms
        self._owner = owner
        self._bounds = dict(state.bounds)
        self._done = set(state.done)
        self._first_live_wait_s = first_live_wait_s
        self._monotonic = monotonic
        self._progress: Progress | None = None

    def loop(self) -> None:
        try:
            self._find_bounds()
            ranges = [
                plan(
                    symbol,
                    after_ms=after,
                    until_ms=self._bounds[symbol],
                    window_s=self._window_s,
                    trades_window_s=self._trades_window_s,
                )
                for symbol, after in self._marks.items()
                if symbol not in self._done
            ]
            if missing := [r for r in ranges if r.missing_s]:
                log.warning(
                    "seconds older than the catch-up window left missing",
                    symbols=[r.symbol for r in missing[:SYMBOLS_LOGGED]],
                    symbol_count=len(missing),
                    seconds=sum(r.missing_s for r in missing),
                    window_s=self._window_s,
                )
            progress = self._progress = Progress("catch-up", sum(r.filled_s + r.rebuilt_s for r in ranges))
            for span in ranges:
                self._catch_up(span)
                self._done.add(span.symbol)
                self._report()
        except Stopped:
            return
        progress.finish()
        self._report()
        self.stopped.set()  # the job is done: the thread ends as if stopped, not as a failure

    def _find_bounds(self) -> None:
        """Each symbol's first live second: the first candle stored after its mark. Past the
        wait, the symbols still without one end their range at the current second."""
        deadline = self._monotonic() + self._first_live_wait_s
        while waiting := [symbol for symbol in self._marks if symbol not in self._bounds]:
            for symbol in waiting:
                first = self._history.candles(symbol, self._marks[symbol] + SECOND_MS, END_OF_TIME_MS, 1)
                if first:
                    self._bounds[symbol] = first[0].open_time
            if len(self._bounds) == len(self._marks):
                break
            if self._monotonic() >= deadline:
                now_ms = self._now_ms() // SECOND_MS * SECOND_MS
                late = [symbol for symbol in self._marks if symbol not in self._bounds]
                log.warning("no live candle in time; catching up to now", symbols=late, wait_s=self._first_live_wait_s)
                self._bounds.update(dict.fromkeys(late, now_ms))
                break
            if self.stopped.wait(POLL_S):
                raise Stopped()
        self._report()

    def _catch_up(self, span: CatchUpRange) -> None:
        """Fill one symbol's range; a failure gives the rest of it up, logged, and the next
        symbol goes on."""
        if not span.filled_s:
            return
        try:
            # The seconds rebuilt from trades begin at the last price before them.
            stored = self._history.candles(span.symbol, span.after_ms, span.after_ms, 1)
            close = stored[0].close if stored else None
            start_ms = span.fill_from_ms
            for candles, next_ms in kline_pages(self._fetcher, span.symbol, start_ms, span.until_ms):
                self._write(candles)
                close = next((c.close for c in reversed(candles) if c.open_time < span.trades_from_ms), close)
                self._advance((next_ms - start_ms) // SECOND_MS)
                start_ms = next_ms
            if span.rebuilt_s and close is not None:
                for candles in trade_pages(
                    self._fetcher,
                    span.symbol,
                    start_ms=span.trades_from_ms,
                    until_ms=span.until_ms,
                    previous_close=close,
                ):
                    self._write(candles)
                    self._advance(len(candles))
        except Stopped:
            raise
        except Exception as exc:
            # As the backfill does: whatever went wrong, the symbol is given up, not retried for ever.
            log.warning(
                "catch-up of a symbol failed; its remaining seconds stay as they are",
                symbol=span.symbol,
                error=f"{type(exc).__name__}: {exc}"[:ERROR_CHARS],
            )

    def _write(self, candles: list[Candle]) -> None:
        refused = self._history.write(candles) if candles else []
        if refused:
            log.error(
                "catch-up candles the store cannot hold exactly were not kept",
                count=len(refused),
                symbol=refused[0].symbol,
            )

    def _advance(self, seconds: int) -> None:
        if self._progress is not None:
            self._progress.advance(seconds)
        self._report()

    def _report(self) -> None:
        tell_if_alive(
            self._owner,
            CatchUpState(
                bounds=tuple(self._bounds.items()),
                done=frozenset(self._done),
                progress=None if self._progress is None else self._progress.report,
            ),
        )


class CatchUpActor(Actor):
    supervisor: Supervisor

    def __init__(
        self,
        *,
        history: CandleStore,
        symbols: Iterable[str],
        rest_url: str,
        weight_budget: int,
        window_s: int,
        trades_window_s: int,
        now_ms: Callable[[], int],
        first_live_wait_s: float = FIRST_LIVE_WAIT_S,
    ) -> None:
        super().__init__(actor="catchup")
        self._history = history
        self._rest_url = rest_url
        self._weight_budget = weight_budget
        self._window_s = window_s
        self._trades_window_s = trades_window_s
        self._now_ms = now_ms
        self._first_live_wait_s = first_live_wait_s
        # Read here, as the system starts: once live candles are stored, they would be the newest.
        self._marks = tuple(
            (symbol, last) for symbol in symbols if (last := history.last_open_time(symbol)) is not None
        )
        self._state = CatchUpState(bounds=(), done=frozenset(), progress=None)
        self.supervisor = Supervisor()
        self._worker = self._new_worker()

    def _new_worker(self) -> CatchUpWorker:
        return CatchUpWorker(
            history=self._history,
            rest_url=self._rest_url,
            weight_budget=self._weight_budget,
            marks=self._marks,
            window_s=self._window_s,
            trades_window_s=self._trades_window_s,
            now_ms=self._now_ms,
            owner=self.actor_ref,
            state=self._state,
            first_live_wait_s=self._first_live_wait_s,
        )

    def on_start(self) -> None:
        if self._marks:
            self.supervisor.start(self._worker)

    def on_stop(self) -> None:
        self._worker.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case CatchUpState(progress=progress):
                self._state = message
                if progress is not None and not progress.running:
                    # Done: no longer a component; /health shows its final progress instead.
                    self.supervisor = Supervisor()
            case ThreadEnded():
                self._worker = self.supervisor.restart(message, self._worker, self._new_worker)
            case GetCatchUpProgress():
                return self._state.progress
        return None
