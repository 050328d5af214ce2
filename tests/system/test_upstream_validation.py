"""Upstream trades that lie, end to end: the simulator's stream reaches the system through a
relay that garbles chosen trade frames (the simulator's record and REST keep the truth). The
reader stays alive, the rejected trade becomes a gap at once, the backfill repairs it, every
final candle equals the reference, and /health counts what was rejected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import settings_for
from tests.corrupting_relay import CorruptingRelay

SYMBOL = "BTCUSDT"
YEAR_MS = 365 * 86_400_000


@pytest.fixture
def relay(busy: Simulator) -> Iterator[CorruptingRelay]:
    relay = CorruptingRelay(busy.stream_url)
    relay.start()
    yield relay
    relay.stop()


def only_connection(running: RunningSystem) -> dict[str, Any]:
    (connection,) = request("GET", running.rest_url + "/health").json["upstream"]["connections"]
    return connection


def readers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("upstream-") and t.is_alive()]


def run(
    sim: Simulator, relay: CorruptingRelay, count: int = 1, **fields: Any
) -> tuple[list[dict[str, Any]], RunningSystem]:
    """Stream through the relay until candles flow, garble the next ``count`` trades, wait until
    every gap is closed, then 2 s more. The caller stops the system."""
    settings = {"upstream_max_rejects": "100/minute", **fields.pop("settings", {})}
    running = start_system(settings_for(sim, symbols=(SYMBOL,), stream_url=relay.url, **settings))
    client = WsClient(running.ws_url + f"/?symbols={SYMBOL}")
    try:
        client.until(lambda m: m["type"] == "candle" and m["trades"] > 0)
        client.collect(1.0)
        relay.corrupt(SYMBOL, count, **fields)
        wait_for(lambda: len(relay.corrupted) == count, timeout=10)
        client.until(lambda m: m["type"] == "gap", timeout=10)
        wait_for(lambda: only_connection(running)["gaps"]["open"] == 0, timeout=20)
        client.collect(2.0)
        return client.received, running
    except BaseException:
        running.stop()
        raise
    finally:
        client.close()


def check_repaired(sim: Simulator, messages: list[dict[str, Any]]) -> None:
    """Gaps then recoveries, nothing unrecoverable; candles sent while the first gap was open
    and inside it (as its recovery bounds it) flagged; every final candle exact."""
    events = [m for m in messages if m["type"] in ("gap", "recovered", "unrecoverable")]
    assert events and events[0]["type"] == "gap" and events[-1]["type"] == "recovered", events
    assert not any(e["type"] == "unrecoverable" for e in events), events
    opened = events[0]
    closed = next(e for e in events if e["type"] == "recovered" and e["first_trade_id"] == opened["first_trade_id"])
    first, end = opened["from_time"], closed["to_time"]
    for message in messages[messages.index(opened) : messages.index(closed)]:
        inside = message["type"] == "candle" and first <= message["open_time"]
        if inside and (end is None or message["open_time"] <= end):
            assert message["complete"] is False, f"published inside an open gap yet not flagged: {message}"
    assert_matches_reference(sim, SYMBOL, final_candles(candles_of(messages, SYMBOL)))


@pytest.mark.parametrize(
    "fields",
    [
        {"p": "NaN"},
        {"p": "Infinity"},
        {"q": "1e999999"},
        {"p": "sNaN"},
        {"T": lambda t: t + 20_000},
        {"T": lambda t: t + 3 * YEAR_MS},
        {"T": lambda t: t - 60_000},
    ],
    ids=["nan-price", "infinite-price", "huge-quantity", "snan-price", "20s-ahead", "3y-ahead", "60s-behind"],
)
def test_a_rejected_trade_is_flagged_then_repaired_and_the_reader_lives(
    busy: Simulator, relay: CorruptingRelay, fields: dict[str, Any]
) -> None:
    messages, running = run(busy, relay, **fields)
    try:
        (rejected_id,) = relay.corrupted
        gap = next(m for m in messages if m["type"] == "gap")
        assert (gap["first_trade_id"], gap["last_trade_id"]) == (rejected_id, rejected_id)
        assert "trade rejected" in gap["detail"]
        connection = only_connection(running)
        assert connection["state"] == "connected" and connection["reconnects"] == 0
        assert (connection["rejected_frames"], connection["rejected_trades"]) == (1, 1)
        assert connection["gaps"] == {"opened": 1, "recovered": 1, "unrecoverable": 0, "open": 0}
        assert readers_alive() == ["upstream-1.1"]
        assert all("Infinity" not in str(m) and "NaN" not in str(m) for m in messages if m["type"] == "candle")
    finally:
        running.stop()
    check_repaired(busy, messages)


def test_a_trade_of_another_symbol_on_the_stream_is_rejected_and_its_hole_repaired(
    busy: Simulator, relay: CorruptingRelay
) -> None:
    messages, running = run(busy, relay, s="ETHUSDT")
    try:
        connection = only_connection(running)
        assert (connection["rejected_frames"], connection["rejected_trades"]) == (1, 0)
        gap = next(m for m in messages if m["type"] == "gap")
        assert gap["first_trade_id"] == gap["last_trade_id"] == relay.corrupted[0]
    finally:
        running.stop()
    check_repaired(busy, messages)


def test_a_stream_that_keeps_sending_garbage_is_reconnected(busy: Simulator, relay: CorruptingRelay) -> None:
    messages, running = run(busy, relay, count=5, p="NaN", settings={"upstream_max_rejects": "3/minute"})
    try:
        connection = only_connection(running)
        assert relay.connections == 2 and connection["reconnects"] == 1 and connection["state"] == "connected"
        # The fifth may have gone to the socket the system had just closed.
        assert 4 <= connection["rejected_frames"] == connection["rejected_trades"] <= 5
        assert readers_alive() == ["upstream-1.1"]
    finally:
        running.stop()
    check_repaired(busy, messages)
