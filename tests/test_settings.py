"""Flags, CANDLECAST_* variables and .env, with flags winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast.runtime.cpu_affinity import usable_cpus
from candlecast.settings import _OPTIONS, TESTNET_REST_URL, TESTNET_STREAM_URL, Range, Settings, parse_settings


def test_defaults() -> None:
    assert parse_settings([], environ={}) == Settings()


def test_flags_environment_and_precedence() -> None:
    settings = parse_settings(
        ["--symbols", "btcusdt, solusdt", "--http-port", "9000", "--simulate"],
        environ={"CANDLECAST_HTTP_PORT": "7000", "CANDLECAST_GRACE_MS": "100", "CANDLECAST_EMPTY_CANDLES": "false"},
    )
    assert settings.symbols == ("BTCUSDT", "SOLUSDT")
    assert settings.http_port == 9000 and settings.grace_ms == 100
    assert settings.simulate and not settings.empty_candles


def test_testnet_switches_both_urls() -> None:
    settings = parse_settings(["--testnet"], environ={})
    assert (settings.stream_url, settings.rest_url) == (TESTNET_STREAM_URL, TESTNET_REST_URL)


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CANDLECAST_WS_PORT=9911\nCANDLECAST_SIMULATE=true\n")
    monkeypatch.chdir(tmp_path)
    for name in ("CANDLECAST_WS_PORT", "CANDLECAST_SIMULATE"):
        monkeypatch.setenv(name, "")  # recorded, so what .env loads is removed again afterwards
        monkeypatch.delenv(name)
    settings = parse_settings([])
    assert settings.ws_port == 9911 and settings.simulate


@pytest.mark.parametrize(
    "argv",
    [
        ["--symbols", "BTC USDT"],
        ["--http-port", "x"],
        ["--log-format", "xml"],
        ["--cpus", "one"],
        ["--cpus", "3-1"],
        ["--cpus", str(max(usable_cpus() or {0}) + 1)],
        ["--rate-limit", "bogus"],
        ["--ws-message-rate", "5/sec"],
        ["--symbols", "BTCUSDT,ETHUSDT,SOLUSDT", "--max-symbols", "2"],
        ["--max-symbols", "0"],
        ["--exchange-info-interval-s", "0"],
        ["--exchange-info-interval-s", "nan"],
        ["--exchange-info-interval-s", "inf"],
        ["--rest-max-connections-per-ip", "0"],
        ["--ws-max-upgrades-per-ip", "0"],
        ["--ws-max-pending-upgrades", "0"],
        ["--shutdown-timeout-s", "0"],
        ["--shutdown-timeout-s", "nan"],
    ],
)
def test_bad_values_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(argv, environ={})
    assert exit_info.value.code == 2


def test_rates_are_limits_notation_and_empty_turns_them_off() -> None:
    settings = parse_settings(["--rate-limit", "50/second;1000/minute", "--ws-message-rate", ""], environ={})
    assert (settings.rate_limit, settings.ws_message_rate) == ("50/second;1000/minute", "")


def test_bad_environment_value_is_reported() -> None:
    with pytest.raises(SystemExit):
        parse_settings([], environ={"CANDLECAST_HTTP_PORT": "eighty"})


@pytest.mark.skipif(not usable_cpus(), reason="this platform cannot pin threads to a CPU")
def test_cpus_are_a_list_this_process_may_use() -> None:
    usable = sorted(usable_cpus())
    assert parse_settings(["--cpus", str(usable[-1])], environ={}).cpus == (usable[-1],)
    everything = (
        f"{usable[0]}-{usable[-1]}" if usable == list(range(usable[0], usable[-1] + 1)) else ",".join(map(str, usable))
    )
    assert parse_settings([], environ={"CANDLECAST_CPUS": everything}).cpus == tuple(usable)
    assert parse_settings(["--cpus", ""], environ={}).cpus == ()


OUT_OF_RANGE = [
    ("--http-port", "70000"),
    ("--http-port", "-1"),
    ("--ws-port", "65536"),
    ("--reconnect-max-s", "nan"),
    ("--stale-after-s", "-1"),
    ("--ws-ping-interval-s", "0"),
    ("--ask-timeout-s", "inf"),
    ("--connection-lifetime-s", "1e309"),
    ("--ws-send-timeout-s", "-inf"),
    ("--ws-handshake-timeout-s", "0"),
    ("--control-messages-per-s", "0"),
    ("--sim-trades-per-second", "nan"),
    ("--thread-switch-ms", "1e-9"),
    ("--ws-max-message-bytes", "0"),
    ("--streams-per-connection", "0"),
    ("--streams-per-connection", "1025"),
    ("--memory-seconds", "-5"),
    ("--memory-seconds", "99999999999999999999"),
    ("--grace-ms", "-1"),
    ("--ws-socket-buffer-bytes", str(1 << 31)),
    ("--ws-max-clients", "0"),
    ("--aggregator-threads", "100000"),
    ("--max-trade-ahead-ms", "0"),
    ("--backfill-window-s", "-3600"),
    ("--ws-trade-interval-ms", "-50"),
    ("--log-level", "loud"),
    ("--log-format", "xml"),
    ("--stream-url", "https://data-stream.binance.vision"),
    ("--stream-url", "data-stream.binance.vision"),
    ("--rest-url", "wss://api.binance.com"),
    ("--rest-url", "https://"),
    ("--rest-url", "https://api.binance.com?x=1"),
    ("--rest-url", "http://[::1"),
    ("--rest-url", "http://localhost:99999"),
    ("--connect-attempts", ""),
    ("--connect-attempts", "300/5 minutes;1/second"),
    ("--connect-attempts", "0/second"),
    ("--rate-limit", "0/second"),
    ("--ws-message-rate", "1/1000 days"),
]


@pytest.mark.parametrize(("flag", "value"), OUT_OF_RANGE)
def test_out_of_range_flags_and_variables_are_usage_errors(flag: str, value: str) -> None:
    variable = "CANDLECAST_" + flag.removeprefix("--").replace("-", "_").upper()
    for argv, environ in (([flag, value], {}), ([f"{flag}={value}"], {}), ([], {variable: value})):
        with pytest.raises(SystemExit) as exit_info:
            parse_settings(argv, environ=environ)
        assert exit_info.value.code == 2, (argv, environ)


def test_the_edges_of_each_range_are_accepted() -> None:
    settings = parse_settings(
        [
            "--http-port",
            "0",
            "--ws-port",
            "65535",
            "--ws-candle-linger-ms",
            "0",
            "--ws-trade-interval-ms",
            "0",
            "--grace-ms",
            "0",
            "--stale-after-s",
            "0.001",
            "--log-level",
            "WARNING",
            "--stream-url",
            "ws://127.0.0.1:9443",
            "--rest-url",
            "HTTP://[::1]:8090/",
        ],
        environ={"CANDLECAST_ASK_TIMEOUT_S": "300", "CANDLECAST_CONNECT_ATTEMPTS": "1/day"},
    )
    assert (settings.http_port, settings.ws_port, settings.ws_candle_linger_ms, settings.ws_trade_interval_ms) == (
        0,
        65535,
        0,
        0,
    )
    assert (settings.grace_ms, settings.stale_after_s, settings.ask_timeout_s) == (0, 0.001, 300.0)
    assert settings.log_level == "warning" and settings.connect_attempts == "1/day"


def test_a_refused_value_is_one_line_naming_the_flag_and_what_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--http-port", "eighty"], environ={})
    assert capsys.readouterr().err.splitlines() == [
        "run.py: error: argument --http-port: not a whole number: 'eighty' (accepted: 0 to 65535)"
    ]
    with pytest.raises(SystemExit):
        parse_settings([], environ={"CANDLECAST_STALE_AFTER_S": "nan"})
    assert capsys.readouterr().err.splitlines() == [
        "run.py: error: CANDLECAST_STALE_AFTER_S: nan is out of range (accepted: 0.001 to 3600 s)"
    ]


@pytest.mark.parametrize("name", ["CANDLECAST_SIMULATE", "CANDLECAST_TESTNET"])
def test_a_switch_variable_that_is_not_a_boolean_is_a_usage_error(name: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_settings([], environ={name: "maybe"})
    assert exit_info.value.code == 2


def test_a_dotenv_that_is_not_utf8_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_bytes(b"CANDLECAST_WS_PORT=\xff9911\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        parse_settings([])
    assert exit_info.value.code == 2


def test_a_cpu_range_wider_than_any_machine_is_refused_before_it_is_built() -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(["--cpus", "0-99999999999"], environ={})
    assert exit_info.value.code == 2


def test_every_number_but_the_seed_has_a_range() -> None:
    unbounded = [
        flag
        for flag, field, kind, _ in _OPTIONS
        if type(getattr(Settings(), field)) in (int, float) and not isinstance(kind, Range)
    ]
    assert unbounded == ["--sim-seed"]
