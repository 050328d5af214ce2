"""One frozen Settings from command-line flags, CANDLECAST_* environment variables and .env.

Precedence: flag > environment > .env > default. Flag names are a contract with operators.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any, Sequence

from dotenv import find_dotenv, load_dotenv
from limits import parse_many

from candlecast.binance import is_valid_symbol, normalize_symbol
from candlecast.cpu_affinity import parse_cpu_list, usable_cpus

BINANCE_STREAM_URL = "wss://data-stream.binance.vision"
BINANCE_REST_URL = "https://api.binance.com"
TESTNET_STREAM_URL = "wss://stream.testnet.binance.vision"
TESTNET_REST_URL = "https://testnet.binance.vision"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    simulate: bool = False
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    host: str = "0.0.0.0"
    http_port: int = 8000
    ws_port: int = 8765
    stream_url: str = BINANCE_STREAM_URL
    rest_url: str = BINANCE_REST_URL
    testnet: bool = False
    grace_ms: int = 250
    empty_candles: bool = True
    aggregator_threads: int = 1
    streams_per_connection: int = 200
    reconnect_max_s: float = 30.0
    stale_after_s: float = 60.0
    connection_lifetime_s: float = 23 * 3600.0
    control_messages_per_s: float = 4.0
    connect_attempts: str = "300/5 minutes"
    rest_weight_budget: int = 4800
    backfill_window_s: int = 3600
    max_symbols: int = 1000
    max_trade_ahead_ms: int = 2000
    max_trade_behind_ms: int = 30000
    max_clock_offset_ms: int = 10000
    upstream_max_rejects: str = "100/minute"
    ask_timeout_s: float = 2.0
    rate_limit: str = "50/second"
    max_body_bytes: int = 4096
    rest_max_connections_per_ip: int = 100
    ws_backlog_bytes: int = 1 << 20
    ws_socket_buffer_bytes: int = 1 << 18
    ws_ping_interval_s: float = 20.0
    ws_send_timeout_s: float = 10.0
    ws_max_message_bytes: int = 4096
    ws_message_rate: str = "10/second"
    ws_max_clients: int = 10000
    ws_max_clients_per_ip: int = 1000
    ws_max_subscriptions: int = 1024
    ws_handshake_timeout_s: float = 10.0
    ws_max_upgrades_per_ip: int = 8
    ws_max_pending_upgrades: int = 1024
    ws_compression: bool = False
    ws_writers: int = 1
    ws_trade_interval_ms: int = 50
    ws_candle_linger_ms: int = 100
    history_seconds: int = 3600
    thread_switch_ms: float = 50.0
    cpus: tuple[int, ...] = ()
    sim_seed: int = 1
    sim_trades_per_second: float = 8.0
    log_format: str = "auto"
    log_level: str = "info"
    shutdown_timeout_s: float = 4.5


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(normalize_symbol(s) for s in text.split(",") if s.strip()))
    bad = [s for s in symbols if not is_valid_symbol(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a symbol: {', '.join(bad)}")
    return symbols


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _limits(text: str) -> str:
    """Rates in the notation of the ``limits`` library ("50/second;1000/minute"); empty: none."""
    if text.strip():
        try:
            parse_many(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a rate in 'limits' notation (e.g. 50/second): {text!r}") from exc
    return text


def _cpus(text: str) -> tuple[int, ...]:
    try:
        cpus = parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a CPU list (e.g. 1, 0,2 or 0-3): {text!r}") from exc
    usable = usable_cpus()
    if unusable := sorted(set(cpus) - usable):
        raise argparse.ArgumentTypeError(
            f"CPUs {unusable} are not ones this process may run on "
            f"(usable: {sorted(usable) or 'none on this platform'})")
    return cpus


# (flag, Settings field, type, help). Every flag reads CANDLECAST_<FIELD> from the environment.
_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--symbols", "symbols", _symbols, "initial subscriptions, comma separated"),
    ("--host", "host", str, "interface for the REST and WebSocket listeners"),
    ("--http-port", "http_port", int, "REST port"),
    ("--ws-port", "ws_port", int, "WebSocket port"),
    ("--stream-url", "stream_url", str, "upstream WebSocket base URL"),
    ("--rest-url", "rest_url", str, "upstream REST base URL"),
    ("--grace-ms", "grace_ms", int, "how long after a second ends a quiet symbol's candle waits for stragglers"),
    ("--empty-candles", "empty_candles", _flag, "publish Binance's flat candle for seconds without trades"),
    ("--aggregator-threads", "aggregator_threads", int,
     "threads the symbols' aggregators take turns on (each symbol keeps its own actor)"),
    ("--streams-per-connection", "streams_per_connection", int, "streams per upstream connection"),
    ("--reconnect-max-s", "reconnect_max_s", float, "cap of the reconnect backoff, seconds"),
    ("--stale-after-s", "stale_after_s", float, "reconnect an upstream socket silent (no frame, no ping) this long"),
    ("--connection-lifetime-s", "connection_lifetime_s", float,
     "rotate an upstream connection (make-before-break, with jitter) before Binance's 24 h limit"),
    ("--control-messages-per-s", "control_messages_per_s", float,
     "SUBSCRIBE/UNSUBSCRIBE/LIST messages per connection per second (Binance allows 5, pongs included)"),
    ("--connect-attempts", "connect_attempts", str, "upstream connection attempts allowed per IP, 'limits' notation"),
    ("--rest-weight-budget", "rest_weight_budget", int, "REST request weight per minute to stay under (Binance: 6000)"),
    ("--backfill-window-s", "backfill_window_s", int, "how far back gaps are repaired and late trades applied"),
    ("--max-symbols", "max_symbols", int, "symbols subscribed at once (adding more answers 409)"),
    ("--max-trade-ahead-ms", "max_trade_ahead_ms", int,
     "reject (and backfill as a gap) a trade stamped this far past the exchange's current time"),
    ("--max-trade-behind-ms", "max_trade_behind_ms", int,
     "reject (and backfill as a gap) a trade read this long after its exchange time"),
    ("--max-clock-offset-ms", "max_clock_offset_ms", int,
     "refuse an /api/v3/time reading this far from the local clock (the last good offset is kept)"),
    ("--upstream-max-rejects", "upstream_max_rejects", _limits,
     "rejected upstream frames per connection, 'limits' notation, before it is reconnected; empty disables"),
    ("--ask-timeout-s", "ask_timeout_s", float, "how long REST waits for an actor before answering 503"),
    ("--rate-limit", "rate_limit", _limits, "per-IP request limit in 'limits' notation; empty disables"),
    ("--max-body-bytes", "max_body_bytes", int, "largest accepted request body (413 above)"),
    ("--rest-max-connections-per-ip", "rest_max_connections_per_ip", int,
     "open REST connections per address (429 and closed above)"),
    ("--ws-backlog-bytes", "ws_backlog_bytes", int,
     "bytes waiting per WebSocket client before its candles conflate and its trades drop"),
    ("--ws-socket-buffer-bytes", "ws_socket_buffer_bytes", int,
     "kernel send buffer per WebSocket client (the kernel doubles it); caps memory held for slow readers"),
    ("--ws-ping-interval-s", "ws_ping_interval_s", float,
     "ping WebSocket clients quiet this long; drop them if still silent one interval later"),
    ("--ws-send-timeout-s", "ws_send_timeout_s", float,
     "close (1008) a client with data waiting whose socket accepts nothing this long"),
    ("--ws-max-message-bytes", "ws_max_message_bytes", int, "largest accepted client message (1009 above)"),
    ("--ws-message-rate", "ws_message_rate", _limits, "messages (commands, pings, pongs) a WebSocket client may send, "
     "'limits' notation (1008 above); empty disables"),
    ("--ws-max-clients", "ws_max_clients", int, "WebSocket clients served at once (1013 above)"),
    ("--ws-max-clients-per-ip", "ws_max_clients_per_ip", int, "WebSocket clients per address (1008 above)"),
    ("--ws-max-subscriptions", "ws_max_subscriptions", int, "(symbol, channel) subscriptions per WebSocket client"),
    ("--ws-handshake-timeout-s", "ws_handshake_timeout_s", float,
     "drop a connection that has not completed its WebSocket handshake in this time"),
    ("--ws-max-upgrades-per-ip", "ws_max_upgrades_per_ip", int,
     "requests in progress (queued or being read) per address on the WebSocket port (429 above)"),
    ("--ws-max-pending-upgrades", "ws_max_pending_upgrades", int,
     "requests in progress in all on the WebSocket port (503 above)"),
    ("--ws-compression", "ws_compression", _flag, "negotiate permessage-deflate with clients that offer it"),
    ("--ws-writers", "ws_writers", int, "threads writing to WebSocket clients, each owning a share of them"),
    ("--ws-trade-interval-ms", "ws_trade_interval_ms", int,
     "send a symbol's trades at most this often, batched (0: as they arrive)"),
    ("--ws-candle-linger-ms", "ws_candle_linger_ms", int,
     "how long a second's candles may wait for each other, to go in one write (0: as they close)"),
    ("--history-seconds", "history_seconds", int, "closed candles kept in memory per symbol"),
    ("--thread-switch-ms", "thread_switch_ms", float,
     "how long a busy thread may hold the interpreter before another waiting thread gets it"),
    ("--cpus", "cpus", _cpus,
     "run the daemon on these CPUs only, taskset's list (e.g. 1 or 0-3; Linux)"),
    ("--sim-seed", "sim_seed", int, "seed of the simulator's trade stream"),
    ("--sim-trades-per-second", "sim_trades_per_second", float, "mean simulated trades per second per symbol"),
    ("--log-format", "log_format", str, "console, json or auto (console on a terminal)"),
    ("--log-level", "log_level", str, "debug, info, warning or error"),
    ("--shutdown-timeout-s", "shutdown_timeout_s", float,
     "after SIGTERM/SIGINT, exit (code 1, naming the threads still running) if stopping takes longer"),
)


def parse_settings(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build Settings; ``environ`` defaults to os.environ after loading ./.env into it."""
    if environ is None:
        load_dotenv(find_dotenv(usecwd=True), override=False)
        environ = dict(os.environ)
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="candlecast: exact 1-second candles from Binance trades over REST and WebSocket.",
        epilog="Every flag can also be set as CANDLECAST_<NAME> (e.g. CANDLECAST_HTTP_PORT); .env is read.",
    )
    parser.add_argument("--simulate", action="store_true", help="run against the built-in Binance simulator")
    parser.add_argument("--testnet", action="store_true", help="use Binance's spot testnet endpoints")
    for flag, field, kind, help_text in _OPTIONS:
        default = getattr(defaults, field)
        env_name = f"CANDLECAST_{field.upper()}"
        if env_name in environ:
            try:
                default = kind(environ[env_name])
            except (ValueError, argparse.ArgumentTypeError) as exc:
                parser.error(f"{env_name}: {exc}")
        shown = (",".join(map(str, default)) or "any") if isinstance(default, tuple) else default
        parser.add_argument(flag, dest=field, type=kind, default=default, help=f"{help_text} (default: {shown}; env {env_name})")
    args = parser.parse_args(argv)
    values = vars(args)
    values["simulate"] = args.simulate or _flag(environ.get("CANDLECAST_SIMULATE", ""))
    values["testnet"] = args.testnet or _flag(environ.get("CANDLECAST_TESTNET", ""))
    if values["testnet"]:
        if values["stream_url"] == BINANCE_STREAM_URL:
            values["stream_url"] = TESTNET_STREAM_URL
        if values["rest_url"] == BINANCE_REST_URL:
            values["rest_url"] = TESTNET_REST_URL
    if values["log_format"] not in ("auto", "console", "json"):
        parser.error("--log-format must be console, json or auto")
    for field in (
        "aggregator_threads", "ws_writers", "rest_max_connections_per_ip", "ws_max_upgrades_per_ip",
        "ws_max_pending_upgrades",
    ):
        if values[field] < 1:
            parser.error(f"--{field.replace('_', '-')} must be at least 1")
    for field in ("thread_switch_ms", "shutdown_timeout_s"):
        if values[field] <= 0:
            parser.error(f"--{field.replace('_', '-')} must be positive")
    return Settings(**values)
