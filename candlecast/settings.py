"""One frozen Settings from command-line flags, CANDLECAST_* environment variables and .env.

Precedence: flag > environment > .env > default. Flag names are a contract with operators.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from dotenv import find_dotenv, load_dotenv
from limits import RateLimitItem, parse_many

from candlecast.runtime.cpu_affinity import parse_cpu_list, usable_cpus
from candlecast.upstream.binance import is_valid_symbol, normalize_symbol

BINANCE_STREAM_URL = "wss://data-stream.binance.vision"
BINANCE_REST_URL = "https://api.binance.com"
TESTNET_STREAM_URL = "wss://stream.testnet.binance.vision"
TESTNET_REST_URL = "https://testnet.binance.vision"
MAX_RATE_WINDOW_S = 86_400


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
    exchange_info_interval_s: float = 3600.0
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
    ws_max_message_frames: int = 16
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
    memory_seconds: int = 120
    data_dir: str = "./data"
    db: str = ""
    retention: str = "7d"
    catchup_window: str = "24h"
    history_queue: int = 200_000
    history_flush_ms: int = 250
    thread_switch_ms: float = 50.0
    cpus: tuple[int, ...] = ()
    sim_seed: int = 1
    sim_trades_per_second: float = 8.0
    log_format: str = "auto"
    log_level: str = "info"
    shutdown_timeout_s: float = 4.5


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_RETENTION_S = 100 * 365 * 86_400


def duration_s(text: str) -> int:
    """Whole seconds of a duration written as ``0`` or a count with a unit: ``90s``, ``15m``,
    ``12h``, ``30d``."""
    text = text.strip()
    count, unit = (text, "s") if text == "0" else (text[:-1], text[-1:])
    if unit not in _DURATION_UNITS or not count.isdigit() or len(count) > 9:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (0, or a count with s, m, h or d: 30d)")
    seconds = int(count) * _DURATION_UNITS[unit]
    if seconds > MAX_RETENTION_S:
        raise argparse.ArgumentTypeError(f"{text} is longer than 100 years")
    return seconds


def _duration(text: str) -> str:
    duration_s(text)
    return text.strip()


def _db_url(text: str) -> str:
    """Empty (the embedded store in --data-dir) or a PostgreSQL URL."""
    text = text.strip()
    if text and urllib.parse.urlsplit(text).scheme not in ("postgresql", "postgres"):
        raise argparse.ArgumentTypeError("not a postgresql:// URL (leave it empty for the embedded store)")
    return text


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


def _rates(text: str) -> list[RateLimitItem]:
    """Rates in the notation of the ``limits`` library ("50/second;1000/minute"), each allowing
    at least one event over a window of at most a day: "0/second" would refuse everything."""
    try:
        rates = parse_many(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a rate in 'limits' notation (e.g. 50/second): {text!r}") from exc
    for rate in rates:
        if rate.amount < 1 or rate.get_expiry() > MAX_RATE_WINDOW_S:
            raise argparse.ArgumentTypeError(f"{rate} is out of range: at least 1 per window of at most a day")
    return rates


def _limits(text: str) -> str:
    """Any number of rates; empty: none."""
    if text.strip():
        _rates(text)
    return text


def _limit(text: str) -> str:
    """Exactly one rate ("300/5 minutes")."""
    if len(_rates(text)) != 1:
        raise argparse.ArgumentTypeError(f"one rate expected (e.g. 300/5 minutes): {text!r}")
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
            f"(usable: {sorted(usable) or 'none on this platform'})"
        )
    return cpus


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """An argparse type: a number of ``kind`` from ``low`` to ``high``, both included. NaN and the
    infinities are outside every range, so no duration can make a loop spin or a wait never end."""

    kind: type[int] | type[float]
    low: int | float
    high: int | float
    unit: str = ""

    def __call__(self, text: str) -> Any:
        try:
            value = self.kind(text)
        except ValueError:
            noun = "whole number" if self.kind is int else "number"
            raise argparse.ArgumentTypeError(f"not a {noun}: {text!r} (accepted: {self.accepted})") from None
        if not self.low <= value <= self.high:
            raise argparse.ArgumentTypeError(f"{text.strip()} is out of range (accepted: {self.accepted})")
        return value

    @property
    def accepted(self) -> str:
        return f"{self.low} to {self.high}{self.unit}"


def _count(high: int) -> Range:
    return Range(int, 1, high)


def _bytes(high: int) -> Range:
    return Range(int, 1, high, " bytes")


def _ms(low: int, high: int) -> Range:
    return Range(int, low, high, " ms")


def _whole_seconds(high: int) -> Range:
    return Range(int, 1, high, " s")


def _seconds(high: float) -> Range:
    """A duration; a millisecond at least, as shorter waits would only make a thread spin."""
    return Range(float, 0.001, high, " s")


def _per_second(high: float) -> Range:
    return Range(float, 0.001, high, " per second")


PORT = Range(int, 0, 65535)  # 0: any free port
TRADES_PER_SECOND = _per_second(10_000)


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """An argparse type: one of ``names``, in any case."""

    names: tuple[str, ...]

    def __call__(self, text: str) -> str:
        if (name := text.strip().lower()) not in self.names:
            raise argparse.ArgumentTypeError(f"not one of {', '.join(self.names)}: {text!r}")
        return name


LOG_FORMAT = Choice(("auto", "console", "json"))
LOG_LEVEL = Choice(("debug", "info", "warning", "error"))


def _url(*schemes: str) -> Callable[[str], str]:
    """An argparse type: a base URL of one of ``schemes`` with a host, to which paths are appended."""

    def url(text: str) -> str:
        try:
            parts = urllib.parse.urlsplit(text)
            _ = parts.port  # reading it raises ValueError for a port that is not 0-65535
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a URL ({exc}): {text!r}") from None
        if (
            parts.scheme.lower() not in schemes
            or not parts.hostname
            or parts.query
            or parts.fragment
            or not text.isprintable()
            or any(c.isspace() for c in text)
        ):
            expected = " or ".join(f"{scheme}://" for scheme in schemes)
            raise argparse.ArgumentTypeError(f"not a base URL ({expected} and a host, no query): {text!r}")
        return text

    return url


# (flag, Settings field, type, help). Every flag reads CANDLECAST_<FIELD> from the environment.
_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--symbols", "symbols", _symbols, "initial subscriptions, comma separated"),
    ("--host", "host", str, "interface for the REST and WebSocket listeners"),
    ("--http-port", "http_port", PORT, "REST port"),
    ("--ws-port", "ws_port", PORT, "WebSocket port"),
    ("--stream-url", "stream_url", _url("ws", "wss"), "upstream WebSocket base URL"),
    ("--rest-url", "rest_url", _url("http", "https"), "upstream REST base URL"),
    (
        "--grace-ms",
        "grace_ms",
        _ms(0, 60_000),
        "how long after a second ends a quiet symbol's candle waits for stragglers",
    ),
    ("--empty-candles", "empty_candles", _flag, "publish Binance's flat candle for seconds without trades"),
    (
        "--aggregator-threads",
        "aggregator_threads",
        _count(256),
        "threads the symbols' aggregators take turns on (each symbol keeps its own actor)",
    ),
    ("--streams-per-connection", "streams_per_connection", _count(1024), "streams per upstream connection"),
    ("--reconnect-max-s", "reconnect_max_s", _seconds(3600), "cap of the reconnect backoff, seconds"),
    (
        "--stale-after-s",
        "stale_after_s",
        _seconds(3600),
        "reconnect an upstream socket silent (no frame, no ping) this long",
    ),
    (
        "--connection-lifetime-s",
        "connection_lifetime_s",
        _seconds(86_400),
        "rotate an upstream connection (make-before-break, with jitter) before Binance's 24 h limit",
    ),
    (
        "--control-messages-per-s",
        "control_messages_per_s",
        _per_second(1000),
        "SUBSCRIBE/UNSUBSCRIBE/LIST messages per connection per second (Binance allows 5, pongs included)",
    ),
    (
        "--connect-attempts",
        "connect_attempts",
        _limit,
        "upstream connection attempts allowed per IP, 'limits' notation",
    ),
    (
        "--rest-weight-budget",
        "rest_weight_budget",
        _count(1_000_000),
        "REST request weight per minute to stay under (Binance: 6000)",
    ),
    (
        "--backfill-window-s",
        "backfill_window_s",
        _whole_seconds(86_400),
        "how far back gaps are repaired and late trades applied",
    ),
    ("--max-symbols", "max_symbols", _count(100_000), "symbols subscribed at once (adding more answers 409)"),
    (
        "--exchange-info-interval-s",
        "exchange_info_interval_s",
        _seconds(86_400),
        "how often exchangeInfo is read again to see which subscribed symbols are halted",
    ),
    (
        "--max-trade-ahead-ms",
        "max_trade_ahead_ms",
        _ms(1, 86_400_000),
        "reject (and backfill as a gap) a trade stamped this far past the exchange's current time",
    ),
    (
        "--max-trade-behind-ms",
        "max_trade_behind_ms",
        _ms(1, 86_400_000),
        "reject (and backfill as a gap) a trade read this long after its exchange time",
    ),
    (
        "--max-clock-offset-ms",
        "max_clock_offset_ms",
        _ms(1, 86_400_000),
        "refuse an /api/v3/time reading this far from the local clock (the last good offset is kept)",
    ),
    (
        "--upstream-max-rejects",
        "upstream_max_rejects",
        _limits,
        "rejected upstream frames per connection, 'limits' notation, before it is reconnected; empty disables",
    ),
    ("--ask-timeout-s", "ask_timeout_s", _seconds(300), "how long REST waits for an actor before answering 503"),
    ("--rate-limit", "rate_limit", _limits, "per-IP request limit in 'limits' notation; empty disables"),
    ("--max-body-bytes", "max_body_bytes", _bytes(1 << 20), "largest accepted request body (413 above)"),
    (
        "--rest-max-connections-per-ip",
        "rest_max_connections_per_ip",
        _count(1_000_000),
        "open REST connections per address (429 and closed above)",
    ),
    (
        "--ws-backlog-bytes",
        "ws_backlog_bytes",
        _bytes(1 << 30),
        "bytes waiting per WebSocket client before its candles conflate and its trades drop",
    ),
    (
        "--ws-socket-buffer-bytes",
        "ws_socket_buffer_bytes",
        _bytes(1 << 30),
        "kernel send buffer per WebSocket client (the kernel doubles it); caps memory held for slow readers",
    ),
    (
        "--ws-ping-interval-s",
        "ws_ping_interval_s",
        _seconds(3600),
        "ping WebSocket clients quiet this long; drop them if still silent one interval later",
    ),
    (
        "--ws-send-timeout-s",
        "ws_send_timeout_s",
        _seconds(3600),
        "close (1008) a client with data waiting whose socket accepts nothing this long",
    ),
    ("--ws-max-message-bytes", "ws_max_message_bytes", _bytes(1 << 24), "largest accepted client message (1009 above)"),
    (
        "--ws-message-rate",
        "ws_message_rate",
        _limits,
        "frames (commands and their fragments, pings, pongs) a WebSocket "
        "client may send, 'limits' notation (1008 above); empty disables",
    ),
    (
        "--ws-max-message-frames",
        "ws_max_message_frames",
        _count(1 << 16),
        "frames (fragments) of one client message (1009 above)",
    ),
    ("--ws-max-clients", "ws_max_clients", _count(1_000_000), "WebSocket clients served at once (1013 above)"),
    (
        "--ws-max-clients-per-ip",
        "ws_max_clients_per_ip",
        _count(1_000_000),
        "WebSocket clients per address (1008 above)",
    ),
    (
        "--ws-max-subscriptions",
        "ws_max_subscriptions",
        _count(1_000_000),
        "(symbol, channel) subscriptions per WebSocket client",
    ),
    (
        "--ws-handshake-timeout-s",
        "ws_handshake_timeout_s",
        _seconds(3600),
        "drop a connection that has not completed its WebSocket handshake in this time",
    ),
    (
        "--ws-max-upgrades-per-ip",
        "ws_max_upgrades_per_ip",
        _count(1_000_000),
        "requests in progress (queued or being read) per address on the WebSocket port (429 above)",
    ),
    (
        "--ws-max-pending-upgrades",
        "ws_max_pending_upgrades",
        _count(1_000_000),
        "requests in progress in all on the WebSocket port (503 above)",
    ),
    ("--ws-compression", "ws_compression", _flag, "negotiate permessage-deflate with clients that offer it"),
    ("--ws-writers", "ws_writers", _count(256), "threads writing to WebSocket clients, each owning a share of them"),
    (
        "--ws-trade-interval-ms",
        "ws_trade_interval_ms",
        _ms(0, 60_000),
        "send a symbol's trades at most this often, batched (0: as they arrive)",
    ),
    (
        "--ws-candle-linger-ms",
        "ws_candle_linger_ms",
        _ms(0, 1000),
        "how long a second's candles may wait for each other, to go in one write (0: as they close)",
    ),
    (
        "--memory-seconds",
        "memory_seconds",
        _whole_seconds(86_400),
        "closed candles kept in memory per symbol; older ones are read back from the store",
    ),
    ("--data-dir", "data_dir", str, "where the embedded candle store keeps its file"),
    ("--db", "db", _db_url, "a postgresql:// URL to keep candles in PostgreSQL instead (empty: the embedded store)"),
    ("--retention", "retention", _duration, "how long candles are kept on disk (0: for ever; e.g. 90s, 12h, 30d)"),
    (
        "--catchup-window",
        "catchup_window",
        _duration,
        "after a restart, how far back missing seconds are filled from the exchange (0: not at all; e.g. 90s, 12h)",
    ),
    (
        "--history-queue",
        "history_queue",
        _count(10_000_000),
        "closed candles that may wait to be written; more are dropped and /health says so",
    ),
    ("--history-flush-ms", "history_flush_ms", _ms(10, 1000), "how often waiting candles are written, in one batch"),
    (
        "--thread-switch-ms",
        "thread_switch_ms",
        Range(float, 0.1, 1000, " ms"),
        "how long a busy thread may hold the interpreter before another waiting thread gets it",
    ),
    ("--cpus", "cpus", _cpus, "run the daemon on these CPUs only, taskset's list (e.g. 1 or 0-3; Linux)"),
    ("--sim-seed", "sim_seed", int, "seed of the simulator's trade stream"),
    (
        "--sim-trades-per-second",
        "sim_trades_per_second",
        TRADES_PER_SECOND,
        "mean simulated trades per second per symbol",
    ),
    ("--log-format", "log_format", LOG_FORMAT, "console, json or auto (console on a terminal)"),
    ("--log-level", "log_level", LOG_LEVEL, "debug, info, warning or error"),
    (
        "--shutdown-timeout-s",
        "shutdown_timeout_s",
        _seconds(3600),
        "after SIGTERM/SIGINT, exit (code 1, naming the threads still running) if stopping takes longer",
    ),
)


class _Parser(argparse.ArgumentParser):
    """Refuses a bad value in one line naming the flag or variable and what it accepts, rather
    than printing the usage of every flag first (``--help`` shows that)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _from_environ(
    parser: argparse.ArgumentParser, environ: dict[str, str], *, field: str, kind: Any, default: Any
) -> Any:
    """CANDLECAST_<FIELD> read with the flag's own type; a bad value is a usage error like a bad flag."""
    name = f"CANDLECAST_{field.upper()}"
    if name not in environ:
        return default
    try:
        return kind(environ[name])
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(f"{name}: {exc}")


def parse_settings(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build Settings; ``environ`` defaults to os.environ after loading ./.env into it."""
    parser = _Parser(
        prog="run.py",
        description="candlecast: exact 1-second candles from Binance trades over REST and WebSocket.",
        epilog="Every flag can also be set as CANDLECAST_<NAME> (e.g. CANDLECAST_HTTP_PORT); .env is read.",
    )
    if environ is None:
        try:
            load_dotenv(find_dotenv(usecwd=True), override=False)
        except (OSError, ValueError) as exc:  # unreadable, or not UTF-8
            parser.error(f".env: {exc}")
        environ = dict(os.environ)
    defaults = Settings()
    # The switches' variables are read whatever the flags say, so a bad one is refused like any other.
    simulate, testnet = (
        _from_environ(parser, environ, field=field, kind=_flag, default=False) for field in ("simulate", "testnet")
    )
    parser.add_argument(
        "--simulate", action="store_true", default=simulate, help="run against the built-in Binance simulator"
    )
    parser.add_argument("--testnet", action="store_true", default=testnet, help="use Binance's spot testnet endpoints")
    for flag, field, kind, help_text in _OPTIONS:
        default = _from_environ(parser, environ, field=field, kind=kind, default=getattr(defaults, field))
        shown = (",".join(map(str, default)) or "any") if isinstance(default, tuple) else default
        accepted = f"{kind.accepted}; " if isinstance(kind, Range) else ""
        parser.add_argument(
            flag,
            dest=field,
            type=kind,
            default=default,
            help=f"{help_text} ({accepted}default: {shown}; env CANDLECAST_{field.upper()})",
        )
    args = parser.parse_args(argv)
    values = vars(args)
    if values["testnet"]:
        if values["stream_url"] == BINANCE_STREAM_URL:
            values["stream_url"] = TESTNET_STREAM_URL
        if values["rest_url"] == BINANCE_REST_URL:
            values["rest_url"] = TESTNET_REST_URL
    if len(values["symbols"]) > values["max_symbols"]:
        parser.error(
            f"--symbols lists {len(values['symbols'])} symbols, more than --max-symbols allows "
            f"({values['max_symbols']})"
        )
    return Settings(**values)
