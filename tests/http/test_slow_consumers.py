"""A client that reads too slowly is handled by the stated policy while a healthy client gets
every candle and every trade: over its backlog, candles conflate to the newest per symbol,
trades drop and the client is told how many; a client stuck for the send timeout is closed
with 1008. Trade frames batch trades without losing or reordering any."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from candlecast.fanout.outbox import HARD_LIMIT_FACTOR, replay_limit
from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.clients import WsClient, request, wait_for
from tests.conftest import make_simulator, settings_for

SMALL_RECEIVE_BUFFER = 4096
# The healthy client reads on a thread of this busy test process: a large receive buffer lets
# it fall seconds behind without ever meeting the backlog policy.
LARGE_RECEIVE_BUFFER = 4 << 20
BUSY_MARKET = {"trades_per_second": 400.0, "symbols": ("BTCUSDT", "ETHUSDT")}


@pytest.fixture
def busy_market() -> Iterator[Simulator]:
    sim = make_simulator(**BUSY_MARKET)
    sim.start()
    yield sim
    sim.stop()


def start(sim: Simulator, **overrides: Any) -> RunningSystem:
    limits = {"ws_backlog_bytes": 16384, "ws_socket_buffer_bytes": 65536} | overrides
    return start_system(settings_for(sim, symbols=BUSY_MARKET["symbols"], **limits))


@contextlib.contextmanager
def gateway(symbols: tuple[str, ...], synthetic: bool = False, **settings: Any) -> Iterator[RunningSystem]:
    """A simulator streaming ``symbols`` (made up ones with ``synthetic``) and a system
    subscribed to them, both stopped afterwards."""
    sim = make_simulator(symbols=symbols, synthetic_symbols=len(symbols) if synthetic else 0)
    sim.start()
    system = start_system(settings_for(sim, symbols=symbols, **settings))
    try:
        yield system
    finally:
        system.stop()
        sim.stop()


def health(system: RunningSystem) -> dict[str, Any]:
    return request("GET", system.rest_url + "/health").json["websocket"]


def by_symbol(messages: list[dict[str, Any]], kind: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        if message["type"] == kind:
            grouped[message["symbol"]].append(message)
    return grouped


def trade_ids(frames: list[dict[str, Any]]) -> list[int]:
    return [trade["trade_id"] for frame in frames for trade in frame["trades"]]


def assert_every_second(candles: list[dict[str, Any]]) -> None:
    times = [c["open_time"] for c in candles if c["revision"] == 0]
    assert times == list(range(times[0], times[-1] + 1000, 1000)), "one candle per second, none missing"


def test_slow_client_is_conflated_and_told_of_dropped_trades_while_a_healthy_one_gets_everything(
    busy_market: Simulator,
) -> None:
    # A backlog of a few seconds of this market: the healthy client's thread may wait that
    # long for the interpreter in this busy process, and the slow client still overflows it.
    system = start(busy_market, ws_send_timeout_s=60.0, ws_backlog_bytes=262144)
    everything = "/?channels=candle,trade"
    healthy = WsClient(system.ws_url + everything, receive_buffer=LARGE_RECEIVE_BUFFER)
    slow = WsClient(system.ws_url + everything, receive_buffer=SMALL_RECEIVE_BUFFER)
    reading = threading.Thread(target=healthy.collect, args=(12.0,))
    reading.start()
    try:
        wait_for(lambda: health(system)["conflated"] >= 4 and health(system)["trades_dropped"] > 0, timeout=10)
        slow.collect(3.0)  # drains its backlog, then streams live again
        stats = health(system)
    finally:
        reading.join()
        healthy.close()
        slow.close()
        system.stop()
    assert stats["evicted_slow_clients"] == 0 and stats["clients"] == 2
    assert not [m for m in healthy.received if m["type"] == "trades_dropped"], stats

    for candles in by_symbol(healthy.received, "candle").values():
        assert_every_second(candles)
    healthy_trades = {s: trade_ids(f) for s, f in by_symbol(healthy.received, "trades").items()}
    for ids in healthy_trades.values():
        assert ids == list(range(ids[0], ids[0] + len(ids))), "the healthy client gets every trade, in order"

    healthy_candles = by_symbol(healthy.received, "candle")
    conflated_away = 0
    for symbol, candles in by_symbol(slow.received, "candle").items():
        times = [c["open_time"] for c in candles if c["revision"] == 0]
        assert times == sorted(set(times)), "conflation keeps candles in order, each second at most once"
        seen = {c["open_time"] for c in healthy_candles[symbol]}
        within = {t for t in times if t <= max(seen)}  # the healthy client stopped reading first
        assert within <= seen
        conflated_away += len({t for t in seen if t >= min(times)} - within)
    assert conflated_away > 0, "some seconds were conflated away"

    # Every trade is either delivered or counted in a notice that arrives before the next trades.
    assert any(m["type"] == "trades_dropped" for m in slow.received), "the slow client was told of dropped trades"
    for symbol, everything_seen in healthy_trades.items():
        reported = 0
        delivered: list[int] = []
        reported_within = 0
        for message in slow.received:
            if message["type"] == "trades_dropped":
                assert message["count"] == sum(message["symbols"].values())
                reported += message["symbols"].get(symbol, 0)
            elif message["type"] == "trades" and message["symbol"] == symbol:
                ids = [t["trade_id"] for t in message["trades"]]
                if ids[-1] > everything_seen[-1]:
                    break
                if not delivered:
                    reported = 0  # drops before the first delivered frame lie outside the span
                delivered += ids
                reported_within = reported
        assert delivered == sorted(set(delivered)), "trades stay in order"
        span = [i for i in everything_seen if delivered[0] <= i <= delivered[-1]]
        assert set(delivered) <= set(span)
        assert len(span) - len(delivered) == reported_within, "the notices count exactly the trades dropped"


def test_client_stuck_past_the_send_timeout_is_closed_with_1008(busy_market: Simulator) -> None:
    system = start(busy_market, ws_send_timeout_s=1.0)
    healthy = WsClient(system.ws_url + "/?channels=candle,trade", receive_buffer=LARGE_RECEIVE_BUFFER)
    stuck = WsClient(system.ws_url + "/?channels=candle,trade", receive_buffer=SMALL_RECEIVE_BUFFER)
    reading = threading.Thread(target=healthy.collect, args=(8.0,))
    reading.start()
    try:
        wait_for(lambda: health(system)["evicted_slow_clients"] == 1, timeout=6)
        assert stuck.closed_with() == (1008, "consumer too slow: nothing read for 1 s")
        assert health(system)["clients"] == 1
    finally:
        reading.join()
        healthy.close()
        stuck.close()
        system.stop()
    for candles in by_symbol(healthy.received, "candle").values():
        assert_every_second(candles)


def test_trade_frames_batch_every_trade_in_order(busy_market: Simulator) -> None:
    system = start(busy_market, ws_trade_interval_ms=100)
    client = WsClient(system.ws_url + "/?symbols=btcusdt&channels=candle,trade")
    try:
        client.next()
        client.until(lambda m: m["type"] == "candle")
        messages = client.collect(3.0)
    finally:
        client.close()
        system.stop()
    frames = [m for m in messages if m["type"] == "trades"]
    ids = trade_ids(frames)
    assert ids == list(range(ids[0], ids[0] + len(ids))), "no trade lost or reordered"
    assert len(frames) <= 3.0 / 0.1 + 2 < len(ids) / 5, "trades travel in batches, at most one frame per interval"
    # Whole seconds between the first and last frame: the candles count the same trades.
    candles = [m for m in messages if m["type"] == "candle" and m["revision"] == 0]
    first_trade_time = frames[0]["trades"][0]["time"]
    inside = [
        c for c in candles if c["open_time"] > first_trade_time and c["close_time"] < frames[-1]["trades"][-1]["time"]
    ]
    in_frames = [t for f in frames for t in f["trades"]]
    for candle in inside:
        count = sum(1 for t in in_frames if candle["open_time"] <= t["time"] <= candle["close_time"])
        assert count == candle["trades"]


def test_a_replay_far_past_the_hard_limit_reaches_a_client_that_reads_it_late_and_the_live_stream_follows() -> None:
    """A reconnecting client asking for many seconds of many symbols gets every one of them,
    then the live stream with no second conflated away: the replay waits as candles, not as
    frames counted against its backlog."""
    symbols = tuple(f"SYN{n:04d}USDT" for n in range(1, 41))
    backlog_limit = 40960  # more than a write and the live candles of the moment the client does not read
    query = f"/?symbols={','.join(symbols)}&channels=candle"
    with gateway(symbols, synthetic=True, ws_backlog_bytes=backlog_limit, ws_socket_buffer_bytes=4096) as system:
        watcher = WsClient(system.ws_url + query)
        watched = by_symbol(watcher.collect(15.0), "candle")
        watcher.close()
        since = max(candles[0]["open_time"] for candles in watched.values())
        last_watched = max(candles[-1]["open_time"] for candles in watched.values())
        late = WsClient(system.ws_url + query + f"&since={since}", receive_buffer=SMALL_RECEIVE_BUFFER)
        try:
            wait_for(lambda: health(system)["backlogged_clients"] == 1, timeout=5)
            time.sleep(0.3)  # the writer's ticks weigh its backlog meanwhile
            received = by_symbol(late.collect(3.0), "candle")
        finally:
            late.close()
        counted = health(system)
    assert counted["evicted_slow_clients"] == 0 and counted["conflated"] == 0
    replayed = sum(
        len(json.dumps(c, default=str))
        for candles in received.values()
        for c in candles
        if c["open_time"] <= last_watched
    )
    assert replayed > HARD_LIMIT_FACTOR * backlog_limit + 2 * 8192, "past the hard limit and the kernel's buffers"
    assert set(received) == set(symbols)
    for candles in received.values():
        seconds = list(dict.fromkeys(c["open_time"] for c in candles))
        assert seconds == list(range(since, seconds[-1] + 1000, 1000)), "every second once, in order"
        assert seconds[-1] >= last_watched + 2000, "then the live candles"


def test_a_replay_longer_than_a_client_may_hold_is_refused_with_an_error_and_the_live_stream_goes_on() -> None:
    """Past half the hard limit a replay would have the client closed as too slow before it
    could read it: the client is told, and asks again for less."""
    symbols = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
    backlog_limit = 256  # replays of at most 64 candles: about 8 seconds of 8 symbols
    most = replay_limit(backlog_limit)
    query = f"/?symbols={','.join(symbols)}&channels=candle"
    with gateway(symbols, ws_backlog_bytes=backlog_limit) as system:
        watcher = WsClient(system.ws_url + query)
        watched: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while (
            len(watched) <= most + len(symbols) and time.monotonic() < deadline
        ):  # symbols start trading at different times
            watched += [m for m in watcher.collect(1.0) if m["type"] == "candle"]
        watcher.close()
        since = min(c["open_time"] for c in watched)
        late = WsClient(system.ws_url + query + f"&since={since}")
        try:
            assert late.next()["type"] == "subscribed"
            refusal = late.until(lambda m: m["type"] == "error")
            assert refusal["error"] == "replay_too_large" and refusal["id"] is None
            assert f"more than {most} candles" in refusal["detail"]
            live = by_symbol(late.collect(2.5), "candle")
            recent = max(c["open_time"] for c in watched) - 1000
            late.send({"op": "subscribe", "symbols": list(symbols), "channels": ["candle"], "since": recent, "id": 7})
            late.until(lambda m: m["type"] == "subscribed" and m["id"] == 7)
            replayed = by_symbol(late.collect(1.0), "candle")
            late.send({"op": "subscribe", "symbols": list(symbols), "channels": ["candle"], "since": since, "id": 8})
            again = late.until(lambda m: m["type"] == "error")
        finally:
            late.close()
        counted = health(system)
    assert again["error"] == "replay_too_large" and again["id"] == 8
    assert set(live) == set(symbols), "live candles of every symbol after the refusal"
    for candles in live.values():
        seconds = [c["open_time"] for c in candles if c["revision"] == 0]
        assert seconds == list(range(seconds[0], seconds[-1] + 1000, 1000))
    for symbol in symbols:
        assert recent in [c["open_time"] for c in replayed[symbol]], "a shorter replay is served"
    assert counted["rejected"]["replay_too_large"] == 2 and counted["evicted_slow_clients"] == 0
