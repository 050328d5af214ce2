"""The ingest bench's load generator: the load it offers is the load the figures claim."""

from __future__ import annotations

import json
import time
from collections import Counter

import websocket

from bench import loadgen

SYMBOLS = 400
STREAMS = 200  # one connection's share, as the gateway subscribes them
RATE = 4_000  # the connection's share: 2,000 a second, 20 a 10 ms tick, far fewer than its streams


def test_every_stream_trades_evenly_even_when_a_tick_has_fewer_trades_than_streams() -> None:
    generator = loadgen.start(SYMBOLS)
    streams = [f"{symbol.lower()}@trade" for symbol in loadgen.symbols_for(SYMBOLS)[:STREAMS]]
    ws = websocket.create_connection(f"{generator.stream_url}/stream?streams={'/'.join(streams)}", timeout=5)
    try:
        generator.rate.value = RATE
        per_symbol: Counter[str] = Counter()
        ids: dict[str, list[int]] = {}
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            trade = json.loads(ws.recv())["data"]
            per_symbol[trade["s"]] += 1
            ids.setdefault(trade["s"], []).append(trade["t"])
    finally:
        generator.rate.value = 0
        ws.close()
        generator.process.terminate()
        generator.process.join(5)
    assert set(per_symbol) == {s.split("@")[0].upper() for s in streams}, "every stream traded"
    assert max(per_symbol.values()) - min(per_symbol.values()) <= 1, per_symbol.most_common(3)
    assert all(seq == list(range(seq[0], seq[0] + len(seq))) for seq in ids.values()), "consecutive ids"
