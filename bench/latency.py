"""Candle delivery latency: how long after its second ends does a candle reach a WebSocket client?

    python -m bench.latency [--seconds 30] [--symbols 4] [--trades-per-second 20] [--grace-ms 250]

Runs the simulator and the whole system in this process, connects one WebSocket client, and
prints p50/p99/max of (arrival - end of the candle's second) for candles with trades and for
quiet (empty) candles. The simulator's clock is the local clock, so no offset applies.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time

import websocket

from bench.figures import describe
from candlecast.runtime.logs import configure_logging
from candlecast.settings import Settings
from candlecast.sim import Simulator, SimulatorConfig
from candlecast.system import start_system

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--trades-per-second", type=float, default=20.0)
    parser.add_argument("--grace-ms", type=int, default=250)
    args = parser.parse_args()
    configure_logging("console", "warning")
    symbols = SYMBOLS[: args.symbols]
    sim = Simulator(
        SimulatorConfig(host="127.0.0.1", rest_port=0, ws_port=0, seed=3, trades_per_second=args.trades_per_second)
    )
    sim.start()
    data_dir = tempfile.mkdtemp(prefix="bench-")  # the candle store, removed at the end
    settings = dataclasses.replace(
        Settings(),
        host="127.0.0.1",
        http_port=0,
        ws_port=0,
        symbols=symbols,
        grace_ms=args.grace_ms,
        stream_url=sim.stream_url,
        rest_url=sim.rest_url,
        log_level="warning",
        data_dir=data_dir,
    )
    system = start_system(settings)
    busy: list[float] = []
    quiet: list[float] = []
    client = websocket.create_connection(system.ws_url, timeout=5)
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            message = json.loads(client.recv())
            arrived_ms = time.time() * 1000
            if message["type"] == "candle":
                late_ms = arrived_ms - (message["close_time"] + 1)
                (busy if message["trades"] else quiet).append(late_ms)
    finally:
        client.close()
        system.stop()
        sim.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"candle delivery after the end of its second; {len(symbols)} symbols, "
        f"~{args.trades_per_second:g} trades/s each, grace {args.grace_ms} ms, {args.seconds:g} s"
    )
    print(describe("with trades", busy))
    print(describe("quiet seconds", quiet))
    print(describe("all", busy + quiet))


if __name__ == "__main__":
    main()
