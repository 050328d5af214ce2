"""The system against a hostile exchange: the simulator's stream lies (NaN, infinite, negative,
zero or huge prices and quantities, a wrong symbol, times far ahead or behind) while its REST
API keeps the truth, and its REST answers are malformed (a wrong or malformed server time, a
malformed exchangeInfo, odd ``Retry-After``).

What must hold: a rejected trade becomes a gap like a missing one, the candles it touches go
out flagged and are repaired over REST, every final candle equals the reference computed from
the simulator's true record, nothing is published for a second the exchange has not reached,
``/health`` never says ``ok`` while a gap is open or streaming has stopped, and a malformed REST
answer neither stops a poller nor unsubscribes a symbol.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from candlecast.sim import Simulator
from candlecast.sim.gate import TRADE_PATHS
from candlecast.sim.hostile import EXCHANGE_INFO, SERVER_TIME
from candlecast.sim.malformed import HOSTILE_KINDS
from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for
from tests.system.test_gaps import check_repaired

SYMBOL = "BTCUSDT"
OTHER = "ETHUSDT"
CORRUPTED = 3
REPAIR_TIMEOUT_S = 8.0
STREAMING_TIMEOUT_S = 3.0


def exchange_now_ms() -> int:
    """The simulator's exchange clock (no offset in these tests)."""
    return time.time_ns() // 1_000_000


class HealthWatch:
    """Polls ``/health`` every 100 ms on a thread of its own and keeps every answer."""

    def __init__(self, url: str) -> None:
        self.samples: list[dict[str, Any]] = []
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watch")

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError, ValueError):
                self.samples.append(request("GET", self._url).json)

    def lies(self) -> list[str]:
        """Samples that said ``ok`` while a gap was open or exchangeInfo was not loaded."""
        ok = [s for s in self.samples if s.get("status") == "ok"]
        return [
            *(f"/health said ok with {open_gaps(s)} gap(s) open" for s in ok if open_gaps(s)),
            *("/health said ok without exchangeInfo" for s in ok if not s["upstream"]["exchange_info_loaded"]),
        ][:3]

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)


def open_gaps(health: dict[str, Any]) -> int:
    return sum(c.get("gaps", {}).get("open", 0) for c in health.get("upstream", {}).get("connections", []))


class Watched:
    """A WebSocket client that notes every candle published for a second the exchange has not reached."""

    def __init__(self, url: str) -> None:
        self.client = WsClient(url)
        self.future: list[dict[str, Any]] = []

    def read(self, seconds: float, until: Callable[[dict[str, Any]], bool] | None = None) -> bool:
        """Read for ``seconds``, or until a message ``until`` holds for (then True)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self.client.next(remaining)
            except websocket.WebSocketTimeoutException:
                return False
            if message["type"] == "candle" and message["open_time"] > exchange_now_ms():
                self.future.append(message)
            if until is not None and until(message):
                return True
        return False

    def streaming(self, symbol: str) -> bool:
        """A candle with trades of ``symbol`` for a second after the latest one seen so far arrives."""
        seen = [m["open_time"] for m in self.client.received if m["type"] == "candle" and m["symbol"] == symbol]
        latest = max(seen, default=0)
        return self.read(STREAMING_TIMEOUT_S, lambda m: is_traded_candle(m, symbol) and m["open_time"] > latest)

    def future_problems(self) -> list[str]:
        return [f"published for a second the exchange had not reached: {m}" for m in self.future[:3]]


def read_through_repair(watched: Watched) -> None:
    """Read until a gap is closed (recovered or unrecoverable), then one second more."""
    watched.read(REPAIR_TIMEOUT_S, lambda m: m["type"] in ("recovered", "unrecoverable"))
    watched.read(1.0)


def is_traded_candle(message: dict[str, Any], symbol: str) -> bool:
    return message["type"] == "candle" and message["symbol"] == symbol and message["trades"] > 0


@contextlib.contextmanager
def gateway(
    sim: Simulator, symbols: tuple[str, ...] = (SYMBOL,), **settings: Any
) -> Iterator[tuple[RunningSystem, Watched]]:
    """A running system on ``sim`` and a client of every candle of ``symbols`` that has seen one with trades."""
    running = start_system(settings_for(sim, symbols=symbols, **settings))
    try:
        watched = Watched(running.ws_url + "/?symbols=" + ",".join(symbols))
        try:
            started = watched.read(10.0, lambda m: is_traded_candle(m, symbols[0]))
            assert started, f"no {symbols[0]} candle with trades within 10 s of start"
            yield running, watched
        finally:
            watched.client.close()
    finally:
        running.stop()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = make_simulator(symbols=(SYMBOL, OTHER), trades_per_second=20.0, seed=11)
    simulator.start()
    yield simulator
    simulator.stop()


def failures(what: str, check: Callable[[], Any]) -> list[str]:
    """What ``check`` asserted that did not hold, as a line of a report."""
    try:
        check()
    except AssertionError as exc:
        return [f"{what}: {str(exc).splitlines()[0][:300] if str(exc) else 'assertion failed'}"]
    return []


def still_streaming_problems(running: RunningSystem, watched: Watched, symbol: str) -> list[str]:
    """Streaming goes on; if it stopped, ``/health`` must not say ``ok``."""
    if watched.streaming(symbol):
        return []
    status = request("GET", running.rest_url + "/health").json["status"]
    lie = [f"/health says {status!r} while {symbol} candles stopped"] if status == "ok" else []
    return [*lie, f"{symbol} stopped streaming"]


def gap_problems(messages: list[dict[str, Any]], size: int) -> list[str]:
    """The gap events, together, name exactly ``size`` consecutive trade ids: the rejected ones."""
    ids = sorted(event_ids(messages, "gap"))
    if not ids:
        return ["no gap event for the rejected trades"]
    if ids != list(range(ids[0], ids[0] + size)):
        return [f"the gaps should be the {size} rejected trades, not {ids[:10]}"]
    return []


# Each bad number once, on price or quantity in turn (both go through the same checks).
def event_ids(messages: list[dict[str, Any]], kind: str) -> set[int]:
    """Trade ids named by the ``kind`` events (gap, recovered, unrecoverable) whose end is known."""
    events = [m for m in messages if m["type"] == kind and m["last_trade_id"] is not None]
    return {i for m in events for i in range(m["first_trade_id"], m["last_trade_id"] + 1)}


def recovery_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Every trade id a gap named was recovered, none given up."""
    missing = event_ids(messages, "gap") - event_ids(messages, "recovered")
    lost = event_ids(messages, "unrecoverable")
    return [
        *([f"gap ids never recovered: {sorted(missing)[:10]}"] if missing else []),
        *([f"gap ids unrecoverable: {sorted(lost)[:10]}"] if lost else []),
    ]


def touched_problems(sim: Simulator, messages: list[dict[str, Any]]) -> list[str]:
    """Each second a rejected trade truly belongs to went out flagged, then repaired with a higher revision."""
    rejected = event_ids(messages, "gap")
    seconds = sorted({t.time // 1000 * 1000 for t in sim.trades(SYMBOL) if t.trade_id in rejected})
    problems = []
    for second in seconds:
        sent = [m for m in messages if m["type"] == "candle" and m["symbol"] == SYMBOL and m["open_time"] == second]
        flagged = [m["revision"] for m in sent if m["complete"] is False]
        repaired = [m["revision"] for m in sent if m["complete"] is True]
        if not flagged or not repaired or max(repaired) <= min(flagged):
            shown = [(m["revision"], m["complete"]) for m in sent]
            problems.append(f"second {second} of a rejected trade not flagged then repaired: {shown}")
    return problems


CORRUPTIONS = [
    "price:NaN",
    "quantity:Infinity",
    "price:-1.5",
    "quantity:0",
    "price:1e999999",
    "quantity:sNaN",
    "time:+20s",
    "time:-60s",
]


def corrupted_trade_problems(sim: Simulator, kind: str) -> list[str]:
    """Streams, corrupts the next trades as ``kind`` says, reads through the repair: what did not hold."""
    with gateway(sim) as (running, watched), HealthWatch(running.rest_url + "/health") as health:
        # The repair waits out one 429 (2 s): the flagged candles close (within 1.25 s) before it.
        sim.fail_rest(429, 2, count=1)
        sim.corrupt_trades(SYMBOL, CORRUPTED, kind)
        read_through_repair(watched)
        streaming = still_streaming_problems(running, watched, SYMBOL)
    messages = watched.client.received
    candles = final_candles(candles_of(messages, SYMBOL))
    return [
        *watched.future_problems(),
        *failures("final candles", lambda: assert_matches_reference(sim, SYMBOL, candles)),
        *gap_problems(messages, CORRUPTED),
        *touched_problems(sim, messages),
        *recovery_problems(messages),
        *health.lies(),
        *streaming,
    ]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_a_corrupted_trade_is_flagged_then_repaired_and_every_final_candle_is_exact(sim: Simulator, kind: str) -> None:
    problems = corrupted_trade_problems(sim, kind)
    assert not problems, "\n".join(problems)


def test_a_trade_under_another_symbol_is_rejected_not_counted_there(sim: Simulator) -> None:
    """A BTCUSDT trade on btcusdt@trade that says it is ETHUSDT: a gap in BTCUSDT, nothing in ETHUSDT."""
    with gateway(sim, (SYMBOL, OTHER)) as (running, watched), HealthWatch(running.rest_url + "/health") as health:
        sim.corrupt_trades(SYMBOL, CORRUPTED, f"symbol:{OTHER}")
        read_through_repair(watched)
        streaming = still_streaming_problems(running, watched, SYMBOL)
    messages = watched.client.received
    btc = [m for m in messages if m.get("symbol", SYMBOL) == SYMBOL]
    other = final_candles(candles_of(messages, OTHER))
    problems = [
        *watched.future_problems(),
        *gap_problems(btc, CORRUPTED),
        *failures("flagged then repaired", lambda: check_repaired(sim, btc, content_changed=True)),
        *failures("final candles", lambda: assert_matches_reference(sim, OTHER, other)),
        *health.lies(),
        *streaming,
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_nested_and_oversized_frames_lose_no_trade(sim: Simulator, kind: str) -> None:
    """Such a frame may cost the connection (then a reconnect and a repaired gap), never a trade or a candle."""
    with gateway(sim) as (running, watched), HealthWatch(running.rest_url + "/health") as health:
        sim.send_malformed(2, kinds=(kind,))
        watched.read(3.0)
        if any(m["type"] == "gap" for m in watched.client.received):
            read_through_repair(watched)
        streaming = still_streaming_problems(running, watched, SYMBOL)
    messages = watched.client.received
    candles = final_candles(candles_of(messages, SYMBOL))
    problems = [
        *watched.future_problems(),
        *failures("final candles", lambda: assert_matches_reference(sim, SYMBOL, candles)),
        *health.lies(),
        *streaming,
    ]
    assert not problems, "\n".join(problems)


def traded_seconds_match(sim: Simulator, watched: Watched, seconds: float) -> list[str]:
    """Read ``seconds`` more; the candles of that stretch match the reference."""
    start = len(watched.client.received)
    watched.read(seconds)
    candles = final_candles(candles_of(watched.client.received[start:], SYMBOL))
    return failures("final candles", lambda: assert_matches_reference(sim, SYMBOL, candles))


def wrong_server_time_problems(skew_ms: int) -> list[str]:
    """``/api/v3/time`` lies by ``skew_ms`` from the start while trades carry the exchange's true
    time: the offset is out of bounds, so it is refused; seconds close on time and none ahead
    of the exchange."""
    sim = make_simulator(symbols=(SYMBOL,), trades_per_second=20.0, seed=12, server_time_skew_ms=skew_ms)
    sim.start()
    try:
        running = start_system(settings_for(sim, symbols=(SYMBOL,)))
        watched = Watched(running.ws_url + f"/?symbols={SYMBOL}")
        try:
            problems = [] if watched.read(10.0, lambda m: is_traded_candle(m, SYMBOL)) else ["no candle in 10 s"]
            if not problems:
                problems += traded_seconds_match(sim, watched, 4.0)
            return problems + watched.future_problems()
        finally:
            watched.client.close()
            running.stop()
    finally:
        sim.stop()


def test_a_server_time_20_s_ahead_is_refused_and_candles_stay_exact() -> None:
    problems = wrong_server_time_problems(20_000)
    assert not problems, "\n".join(problems)


def requests_to(sim: Simulator, path: str) -> int:
    return sim.stats().rest_requests.get(path, 0)


@pytest.mark.parametrize("kind", ["not_json", "no_server_time", "string", "nan"])
def test_a_malformed_server_time_is_retried_and_streaming_goes_on(sim: Simulator, kind: str) -> None:
    sim.malform_rest(SERVER_TIME, kind, count=2)
    with gateway(sim, reconnect_max_s=2.0) as (running, watched):
        retried = failures("retried", lambda: wait_for(lambda: requests_to(sim, SERVER_TIME) >= 3, timeout=10))
        problems = [f"/api/v3/time not asked again after {kind} answers"] if retried else []
        problems += traded_seconds_match(sim, watched, 2.0)
        problems += still_streaming_problems(running, watched, SYMBOL)
        problems += watched.future_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", ["cut", "symbols_not_list"])
def test_a_malformed_exchange_info_is_retried_and_the_symbol_stays(sim: Simulator, kind: str) -> None:
    sim.malform_rest(EXCHANGE_INFO, kind, count=2)
    with gateway(sim, reconnect_max_s=2.0) as (running, watched):
        loaded = failures(
            "retried",
            lambda: wait_for(lambda: request("GET", running.rest_url + "/symbols/available").status == 200, timeout=10),
        )
        problems = [f"exchangeInfo never loaded after {kind} answers"] if loaded else []
        listed = request("GET", running.rest_url + "/symbols").json["symbols"]
        if SYMBOL not in listed:
            problems.append(f"{SYMBOL} unsubscribed: {listed}")
        problems += still_streaming_problems(running, watched, SYMBOL)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", [f"break:{SYMBOL}", f"without:{SYMBOL}"], ids=["break", "left-out"])
def test_a_symbol_not_shown_trading_stays_subscribed(sim: Simulator, kind: str) -> None:
    """One exchangeInfo answer shows the symbol in BREAK, or leaves it out as a truncated list
    would: it stays subscribed, keeps streaming, and is shown ``halted`` in /symbols and /health."""
    sim.malform_rest(EXCHANGE_INFO, kind)
    with gateway(sim) as (running, watched):
        wait_for(lambda: requests_to(sim, EXCHANGE_INFO) >= 1)
        watched.read(1.0)
        listed = request("GET", running.rest_url + "/symbols").json
        problems = [] if SYMBOL in listed["symbols"] else [f"{SYMBOL} unsubscribed: {listed}"]
        if SYMBOL not in listed.get("halted", ()):
            problems.append(f"/symbols does not show {SYMBOL} halted: {listed}")
        if SYMBOL not in request("GET", running.rest_url + "/health").json["upstream"].get("halted", ()):
            problems.append(f"/health does not show {SYMBOL} halted")
        problems += still_streaming_problems(running, watched, SYMBOL)
    assert not problems, "\n".join(problems)


def component_problems(running: RunningSystem) -> list[str]:
    """Every owned thread /health reports, that is not running."""
    components = request("GET", running.rest_url + "/health").json.get("components", {})
    stopped = {name: c for name, c in components.items() if c.get("state") != "running"}
    return [f"{name} {c.get('state')}: {c.get('last_error')}" for name, c in stopped.items()]


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        (429, "inf"),
        (418, "nan"),
        (429, "-5"),
        (418, "1e12"),
        (429, ""),
        (418, "garbage"),
    ],
)
def test_odd_retry_after_stops_neither_a_poller_nor_the_backfill(sim: Simulator, status: int, retry_after: str) -> None:
    """Time, exchangeInfo and the backfill each meet two such answers. A wait is read as 1 to 300 s
    (README), so none is over within the test but ``-5`` (1 s): every thread still runs, streaming
    goes on, /health is not ``ok`` while a gap is open or exchangeInfo is missing, and the ``-5``
    gap is repaired."""
    for path in (SERVER_TIME, EXCHANGE_INFO, *TRADE_PATHS):
        sim.fail_rest(status, retry_after, count=2, paths=frozenset({path}))
    with gateway(sim) as (running, watched), HealthWatch(running.rest_url + "/health") as health:
        sim.skip_trades(SYMBOL, 10)
        if retry_after == "-5":
            read_through_repair(watched)
            problems = failures("repaired", lambda: check_repaired(sim, watched.client.received, content_changed=True))
        else:
            watched.read(4.0)
            problems = []
        problems += component_problems(running)
        problems += still_streaming_problems(running, watched, SYMBOL)
    problems += health.lies()
    assert not problems, "\n".join(problems)


SPIN_REFUSALS = 50


@pytest.mark.parametrize("retry_after", ["nan", "-5"])
def test_a_nan_or_negative_retry_after_does_not_spin_the_backfill(sim: Simulator, retry_after: str) -> None:
    """50 refusals in a row: a backfill that waits between tries (as after any 429) has not
    used them up 4 s later; one that reads the header as no wait at all burns through them at once."""
    with gateway(sim, reconnect_max_s=2.0) as (running, watched):
        sim.fail_rest(429, retry_after, count=SPIN_REFUSALS, paths=TRADE_PATHS)
        sim.skip_trades(SYMBOL, 10)
        watched.read(4.0)
        tries = sum(requests_to(sim, path) for path in TRADE_PATHS)
        problems = [f"the backfill spins: {tries} trade requests in 4 s"] if tries >= SPIN_REFUSALS else []
        problems += still_streaming_problems(running, watched, SYMBOL)
    assert not problems, "\n".join(problems)


# Last in the file: a system that meets a time years ahead by filling the years between with
# candles never gets its aggregator or clock back, and every later test would inherit them.


def test_a_trade_stamped_years_ahead_is_flagged_then_repaired_and_every_final_candle_is_exact(sim: Simulator) -> None:
    problems = corrupted_trade_problems(sim, "time:+3y")
    assert not problems, "\n".join(problems)


def test_a_server_time_years_ahead_is_refused_and_candles_stay_exact() -> None:
    problems = wrong_server_time_problems(3 * 365 * 86_400_000)
    assert not problems, "\n".join(problems)
