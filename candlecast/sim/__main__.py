"""``python -m candlecast.sim``: run the simulated exchange until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Sequence

from candlecast.logs import configure_logging
from candlecast.sim.replay import ReplaySource
from candlecast.sim.config import SimulatorConfig
from candlecast.sim.server import Simulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m candlecast.sim", description="A Binance-compatible exchange on loopback.")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--rest-port", type=int, default=8090, help="REST port (0: any free port)")
    parser.add_argument("--ws-port", type=int, default=9443, help="stream port (0: any free port)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--trades-per-second", type=float, default=defaults.trades_per_second)
    parser.add_argument("--ping-interval", type=float, default=defaults.ping_interval)
    parser.add_argument("--replay", metavar="FILE", help="replay a recorded trade CSV")
    parser.add_argument("--replay-symbol", metavar="SYM", help="symbol of the replayed file (default: from its name)")
    parser.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    replay = ReplaySource(args.replay, symbol=args.replay_symbol) if args.replay else None
    config = SimulatorConfig(
        host=args.host,
        rest_port=args.rest_port,
        ws_port=args.ws_port,
        seed=args.seed,
        trades_per_second=args.trades_per_second,
        ping_interval=args.ping_interval,
        replay=replay,
    )
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    with Simulator(config):
        stop_requested.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
