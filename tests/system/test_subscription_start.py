"""No seam where a stream starts: a symbol subscribed at start or added live is published every
second from the first that began after its subscription took effect, flat at the price of the
trade before it until it trades, each candle equal to the reference from the simulator's record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.candle_checks import assert_matches_reference, candles_of, final_candles
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for

# Few trades a second, so a stream mostly starts with quiet seconds before its first trade.
TRADES_PER_SECOND = 0.25


@pytest.fixture
def quiet() -> Iterator[Simulator]:
    sim = make_simulator(symbols=("BTCUSDT", "ETHUSDT"), trades_per_second=TRADES_PER_SECOND, seed=3)
    sim.start()
    wait_for(lambda: sim.trades("BTCUSDT") and sim.trades("ETHUSDT"), timeout=30)  # a price to seed
    yield sim
    sim.stop()


def logged(logs: list[dict[str, Any]], event: str, symbol: str) -> Callable[[], dict[str, Any] | None]:
    return lambda: next((e for e in logs if e["event"] == event and e.get("symbol") == symbol), None)


def check_start(sim: Simulator, running: RunningSystem, logs: list[dict[str, Any]], symbol: str) -> None:
    """Every candle of ``symbol`` from the first one on, over a WebSocket replaying them all,
    until two seconds past its first trading second."""
    confirmed = wait_for(logged(logs, "subscription confirmed", symbol))
    seed = wait_for(logged(logs, "price seed", symbol))
    first_second = confirmed["confirmed_ms"] // 1000 + 1
    assert confirmed["first_second"] == first_second
    assert seed["outcome"] in ("used", "older than the stream's", "after the first second"), seed
    client = WsClient(running.ws_url + f"/?symbols={symbol}&since=0")
    try:
        trading = client.until(lambda m: m["type"] == "candle" and m["trades"] > 0, timeout=30)
        client.until(lambda m: m["type"] == "candle" and m["open_time"] >= trading["open_time"] + 2000)
        candles = final_candles(candles_of(client.received, symbol))
    finally:
        client.close()
    assert candles[0].open_time == first_second * 1000, "the first second after the confirmation comes first"
    assert_matches_reference(sim, symbol, candles)
    first_trading = next(c for c in candles if c.trades)
    assert first_trading.first_trade_id == min(t.trade_id for t in sim.trades(symbol) if t.time >= first_second * 1000)
    assert not [e for e in logs if e["event"].startswith("no price seed")]


def test_a_symbol_subscribed_at_start_is_published_from_the_first_second_after_the_socket_opened(
    quiet: Simulator,
) -> None:
    with capture_logs() as logs:
        running = start_system(settings_for(quiet, symbols=("BTCUSDT",)))
        try:
            check_start(quiet, running, logs, "BTCUSDT")
        finally:
            running.stop()


def test_a_symbol_added_live_is_published_from_the_first_second_after_its_subscribe_reply(
    quiet: Simulator,
) -> None:
    with capture_logs() as logs:
        running = start_system(settings_for(quiet, symbols=("BTCUSDT",)))
        try:
            wait_for(lambda: request("GET", running.rest_url + "/symbols/available").status == 200)
            wait_for(logged(logs, "subscription confirmed", "BTCUSDT"))
            assert request("POST", running.rest_url + "/add_symbol", '{"symbol": "ethusdt"}').status == 200
            check_start(quiet, running, logs, "ETHUSDT")
            assert quiet.connections_accepted == 1, "added with SUBSCRIBE, not by reconnecting"
        finally:
            running.stop()
