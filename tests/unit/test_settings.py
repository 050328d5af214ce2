"""Flags, CANDLECAST_* variables and .env, with flags winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast.cpu_affinity import usable_cpus
from candlecast.settings import TESTNET_REST_URL, TESTNET_STREAM_URL, Settings, parse_settings


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


@pytest.mark.parametrize("argv", [
    ["--symbols", "BTC USDT"], ["--http-port", "x"], ["--log-format", "xml"], ["--cpus", "one"], ["--cpus", "3-1"],
    ["--cpus", str(max(usable_cpus() or {0}) + 1)], ["--rate-limit", "bogus"], ["--ws-message-rate", "5/sec"],
    ["--rest-max-connections-per-ip", "0"], ["--ws-max-upgrades-per-ip", "0"], ["--ws-max-pending-upgrades", "0"],
    ["--shutdown-timeout-s", "0"],
])
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
    everything = f"{usable[0]}-{usable[-1]}" if usable == list(range(usable[0], usable[-1] + 1)) else ",".join(map(str, usable))
    assert parse_settings([], environ={"CANDLECAST_CPUS": everything}).cpus == tuple(usable)
    assert parse_settings(["--cpus", ""], environ={}).cpus == ()
