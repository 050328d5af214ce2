"""A client reconnecting with ``since`` older than the seconds kept in memory gets every candle
it missed, read from the store, in order and each second once, then the live stream without a
seam; also after the server itself restarted on the same data directory."""

from __future__ import annotations

from typing import Any

from candlecast.sim import Simulator
from candlecast.system import start_system
from tests.clients import WsClient
from tests.conftest import settings_for
from tests.data_dirs import fresh_data_dir

MEMORY_S = 2
SYMBOLS = ("BTCUSDT", "ETHUSDT")
QUERY = "/?symbols=" + ",".join(SYMBOLS)
Message = dict[str, Any]


def is_candle(message: Message) -> bool:
    return message["type"] == "candle"


def candles_for(url: str, seconds: float) -> list[Message]:
    """The candles a client connecting to ``url`` receives over ``seconds``."""
    client = WsClient(url)
    try:
        assert client.next()["type"] == "subscribed"
        received = [client.until(is_candle)]
        return received + [m for m in client.collect(seconds) if is_candle(m)]
    finally:
        client.close()


def key(candle: Message) -> tuple[str, int]:
    return candle["symbol"], candle["open_time"]


def first_seen_times(received: list[Message], symbol: str) -> list[int]:
    """The open times of ``symbol``'s candles in the order they first arrived; a later message of
    the same second must be a newer revision."""
    revisions: dict[int, int] = {}
    times = []
    for candle in received:
        if candle["symbol"] != symbol:
            continue
        previous = revisions.get(candle["open_time"])
        assert previous is None or candle["revision"] > previous, f"{key(candle)} arrived twice"
        if previous is None:
            times.append(candle["open_time"])
        revisions[candle["open_time"]] = candle["revision"]
    return times


def newest(received: list[Message]) -> dict[tuple[str, int], Message]:
    by_key: dict[tuple[str, int], Message] = {}
    for candle in received:
        by_key[key(candle)] = candle
    return by_key


def assert_newest_of_each(seen: list[Message], replayed: dict[tuple[str, int], Message]) -> None:
    """Every candle seen is replayed, the same or revised since (a late trade may revise it after
    it was seen)."""
    for candle in seen:
        again = replayed[key(candle)]
        assert again["revision"] >= candle["revision"]
        if again["revision"] == candle["revision"]:
            assert again == candle


def test_since_older_than_memory_is_replayed_from_the_store_then_live(simulator: Simulator) -> None:
    system = start_system(settings_for(simulator, memory_seconds=MEMORY_S))
    try:
        seen = candles_for(system.ws_url + QUERY, 3 * MEMORY_S)
        since = seen[0]["open_time"]
        received = candles_for(system.ws_url + QUERY + f"&since={since}", 2.0)
    finally:
        system.stop()
    assert_newest_of_each(seen, newest(received))
    for symbol in SYMBOLS:
        times = first_seen_times(received, symbol)
        assert times[0] == since, "from since on"
        assert times == list(range(since, times[-1] + 1000, 1000)), "in order, each second once, no seam"
        assert times[-1] > max(m["open_time"] for m in seen if m["symbol"] == symbol), "then the live stream"


def test_since_before_a_restart_is_replayed_from_the_store(simulator: Simulator) -> None:
    data_dir = fresh_data_dir()
    system = start_system(settings_for(simulator, memory_seconds=MEMORY_S, data_dir=data_dir))
    try:
        seen = candles_for(system.ws_url + QUERY, 3 * MEMORY_S)
    finally:
        system.stop()
    since = seen[0]["open_time"]
    restarted = start_system(settings_for(simulator, memory_seconds=MEMORY_S, data_dir=data_dir))
    try:
        received = candles_for(restarted.ws_url + QUERY + f"&since={since}", 2 * MEMORY_S)
    finally:
        restarted.stop()
    assert_newest_of_each(seen, newest(received))
    for symbol in SYMBOLS:
        times = first_seen_times(received, symbol)
        assert times[0] == since and times == sorted(times), "in order from since on"
        before = [t for t in times if t <= max(m["open_time"] for m in seen if m["symbol"] == symbol)]
        assert before == list(range(since, before[-1] + 1000, 1000)), "each stored second once"
        assert times[-1] > before[-1], "then the live stream of the restarted server"
