"""``python -m candlecast.sim``: run the simulated exchange until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence

from candlecast.runtime.logs import configure_logging
from candlecast.settings import LOG_FORMAT, LOG_LEVEL, PORT, TRADES_PER_SECOND, Range
from candlecast.sim.config import SimulatorConfig
from candlecast.sim.replay import ReplaySource
from candlecast.sim.server import Simulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m candlecast.sim", description="A Binance-compatible exchange on loopback."
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--rest-port", type=PORT, default=8090, help="REST port (0: any free port)")
    parser.add_argument("--ws-port", type=PORT, default=9443, help="stream port (0: any free port)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--trades-per-second", type=TRADES_PER_SECOND, default=defaults.trades_per_second)
    parser.add_argument("--ping-interval", type=Range(float, 1, 3600, " s"), default=defaults.ping_interval)
    parser.add_argument("--replay", metavar="FILE", help="replay a recorded trade CSV")
    parser.add_argument("--replay-symbol", metavar="SYM", help="symbol of the replayed file (default: from its name)")
    parser.add_argument("--log-format", default="auto", type=LOG_FORMAT)
    parser.add_argument("--log-level", default="info", type=LOG_LEVEL)
    args = parser.parse_args(argv)
    if args.replay:
        try:
            args.replay = ReplaySource(args.replay, symbol=args.replay_symbol)
        except (OSError, ValueError) as exc:  # missing, unreadable, not UTF-8, columns or symbol unknown
            parser.error(f"--replay: {exc}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    config = SimulatorConfig(
        host=args.host,
        rest_port=args.rest_port,
        ws_port=args.ws_port,
        seed=args.seed,
        trades_per_second=args.trades_per_second,
        ping_interval=args.ping_interval,
        replay=args.replay,
    )
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    with Simulator(config):
        stop_requested.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
