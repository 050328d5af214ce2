"""The upstream connection layer against the simulator's Binance limits and faults, end to end:
batched and paced SUBSCRIBEs, LIST_SUBSCRIPTIONS reconciliation, make-before-break rotation,
the stale watchdog, reconnects, malformed frames and the shared connect-attempt limiter."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for


@contextlib.contextmanager
def running(sim_options: dict[str, Any], **settings: Any) -> Iterator[tuple[Simulator, RunningSystem]]:
    sim = make_simulator(**sim_options)
    sim.start()
    try:
        system = start_system(settings_for(sim, **settings))
        try:
            yield sim, system
        finally:
            system.stop()
    finally:
        sim.stop()


def connections(system: RunningSystem) -> list[dict[str, Any]]:
    return request("GET", system.rest_url + "/health").json["upstream"]["connections"]


def only_connection(system: RunningSystem) -> dict[str, Any]:
    (connection,) = connections(system)
    return connection


def tick_id(system: RunningSystem, symbol: str) -> int | None:
    reply = request("GET", f"{system.rest_url}/tick/{symbol}")
    return reply.json["trade_id"] if reply.status == 200 else None


def keeps_streaming(system: RunningSystem, symbol: str) -> None:
    """A trade newer than the latest one seen now arrives."""
    seen = wait_for(lambda: tick_id(system, symbol), timeout=15)
    wait_for(lambda: (tick_id(system, symbol) or 0) > seen, timeout=15)


def interruptions(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "streams interrupted"]


def test_a_burst_of_500_adds_is_batched_under_the_message_limit() -> None:
    symbols = [f"SYN{n:04d}USDT" for n in range(1, 501)]
    sim_options = {"synthetic_symbols": 500, "symbols": tuple(symbols), "trades_per_second": 0.5}
    with running(sim_options, symbols=(), streams_per_connection=200) as (sim, system):
        wait_for(lambda: request("GET", system.rest_url + "/symbols/available").status == 200)
        for symbol in symbols:
            reply = request("POST", system.rest_url + "/add_symbol", f'{{"symbol": "{symbol}"}}')
            assert reply.status == 200, reply.body

        def settled() -> bool:
            found = connections(system)
            return [c["streams"] for c in found] == [200, 200, 100] and all(c["state"] == "connected" for c in found)

        wait_for(settled, timeout=30)
        for symbol in (symbols[0], symbols[250], symbols[-1]):
            keeps_streaming(system, symbol)
        stats = sim.stats()
        assert stats.throttle_disconnects == 0 and stats.stream_limit_disconnects == 0
        assert stats.connections_accepted == 3
        assert [c["reconnects"] for c in connections(system)] == [0, 0, 0]


def test_a_subscription_the_server_lost_is_found_by_listing_and_requested_again() -> None:
    with running({"symbols": ("BTCUSDT", "SOLUSDT"), "trades_per_second": 20.0}, symbols=("BTCUSDT",)) as (sim, system):
        keeps_streaming(system, "BTCUSDT")
        wait_for(lambda: only_connection(system)["control_requests"] >= 1)  # the first LIST_SUBSCRIPTIONS
        sim.ignore_subscribes(1)
        assert request("POST", system.rest_url + "/add_symbol", '{"symbol": "solusdt"}').status == 200
        keeps_streaming(system, "SOLUSDT")
        connection = only_connection(system)
        assert connection["resubscribed"] == 1 and connection["reconnects"] == 0
        assert sim.connections_accepted == 1


def test_server_shutdown_rotates_make_before_break() -> None:
    with running({"symbols": ("BTCUSDT", "ETHUSDT"), "trades_per_second": 20.0}, symbols=("BTCUSDT", "ETHUSDT")) as (
        sim,
        system,
    ):
        keeps_streaming(system, "BTCUSDT")
        with capture_logs() as logs:
            # The server would close the old socket only after 30 s: the switch is the client's doing.
            assert sim.server_shutdown(after_s=30.0) == 1
            wait_for(lambda: only_connection(system)["rotations"] == 1)
            wait_for(lambda: sim.stats().open_connections == 1)
            keeps_streaming(system, "ETHUSDT")
        assert sim.connections_accepted == 2
        assert only_connection(system)["reconnects"] == 0
        assert not interruptions(logs)


def test_connections_rotate_before_their_lifetime_without_interruption() -> None:
    with running(
        {"symbols": ("BTCUSDT",), "trades_per_second": 20.0}, symbols=("BTCUSDT",), connection_lifetime_s=1.0
    ) as (_sim, system):
        with capture_logs() as logs:
            wait_for(lambda: only_connection(system)["rotations"] >= 2, timeout=15)
            keeps_streaming(system, "BTCUSDT")
        connection = only_connection(system)
        assert connection["reconnects"] == 0 and connection["state"] == "connected"
        assert not interruptions(logs)


def test_the_trade_channel_loses_and_repeats_nothing_across_rotations() -> None:
    """While a new socket overlaps the old one both deliver the same trades; clients get each once."""
    with running(
        {"symbols": ("BTCUSDT",), "trades_per_second": 50.0}, symbols=("BTCUSDT",), connection_lifetime_s=1.0
    ) as (_sim, system):
        client = WsClient(system.ws_url + "/?symbols=btcusdt&channels=trade")
        try:
            client.until(lambda m: m["type"] == "subscribed")
            first = only_connection(system)["rotations"]
            ids: list[int] = []
            deadline = time.monotonic() + 20
            while (only_connection(system)["rotations"] < first + 3 or len(ids) <= 100) and time.monotonic() < deadline:
                ids += [t["trade_id"] for m in client.collect(0.5) if m["type"] == "trades" for t in m["trades"]]
        finally:
            client.close()
        assert only_connection(system)["rotations"] >= first + 3
        assert len(ids) > 100
        assert ids == list(range(ids[0], ids[0] + len(ids))), "every trade once, in order"


def test_a_stalled_socket_is_replaced_after_stale_after_s() -> None:
    sim_options = {"symbols": ("BTCUSDT",), "trades_per_second": 20.0, "ping_interval": 0.5}
    with running(sim_options, symbols=("BTCUSDT",), stale_after_s=2.0) as (sim, system):
        keeps_streaming(system, "BTCUSDT")
        with capture_logs() as logs:
            assert sim.stall_connections() == 1
            wait_for(lambda: only_connection(system)["reconnects"] == 1, timeout=15)
            keeps_streaming(system, "BTCUSDT")
        assert sim.connections_accepted == 2
        assert len(interruptions(logs)) == 1


def test_pings_are_answered_before_the_pong_timeout() -> None:
    sim_options = {"symbols": ("BTCUSDT",), "trades_per_second": 200.0, "ping_interval": 0.3, "pong_timeout_s": 1.5}
    with running(sim_options, symbols=("BTCUSDT",)) as (sim, system):
        keeps_streaming(system, "BTCUSDT")
        time.sleep(3.0)
        keeps_streaming(system, "BTCUSDT")
        assert only_connection(system)["reconnects"] == 0 and sim.connections_accepted == 1


@pytest.mark.parametrize("close_frame", [True, False])
def test_dropped_connections_reconnect(close_frame: bool) -> None:
    with running({"symbols": ("BTCUSDT",), "trades_per_second": 20.0}, symbols=("BTCUSDT",)) as (sim, system):
        keeps_streaming(system, "BTCUSDT")
        assert sim.drop_connections(close_frame=close_frame) == 1
        wait_for(lambda: only_connection(system)["reconnects"] == 1, timeout=15)
        keeps_streaming(system, "BTCUSDT")
        assert sim.connections_accepted == 2


def test_malformed_frames_are_counted_and_the_symbol_keeps_streaming() -> None:
    with running({"symbols": ("BTCUSDT",), "trades_per_second": 20.0}, symbols=("BTCUSDT",)) as (sim, system):
        keeps_streaming(system, "BTCUSDT")
        sim.send_malformed(4)
        wait_for(lambda: only_connection(system)["rejected_frames"] == 4)
        keeps_streaming(system, "BTCUSDT")
        assert only_connection(system)["reconnects"] == 0


def test_the_connect_attempt_limit_delays_reconnects() -> None:
    with (
        capture_logs() as logs,
        running(
            {"symbols": ("BTCUSDT",), "trades_per_second": 20.0}, symbols=("BTCUSDT",), connect_attempts="3/10 seconds"
        ) as (sim, system),
    ):
        for accepted in (1, 2, 3):
            wait_for(
                lambda expected=accepted: (
                    sim.connections_accepted == expected and only_connection(system)["state"] == "connected"
                ),
                timeout=15,
            )
            sim.drop_connections()
        wait_for(lambda: sim.connections_accepted == 4, timeout=20)
        keeps_streaming(system, "BTCUSDT")
    limited = [entry for entry in logs if entry["event"] == "connect attempt waited for the connection limit"]
    assert len(limited) == 1, "the fourth attempt waited for the first to leave the window"
