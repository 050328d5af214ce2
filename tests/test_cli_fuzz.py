"""The command line and the environment are an entry point: whatever they hold, the daemon and the
simulator start with values inside their ranges or stop at once with a one-line usage error."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.settings import _OPTIONS, Choice, Range, Settings, parse_settings
from candlecast.sim import SimulatorConfig

ROOT = Path(__file__).resolve().parents[1]
FLAGS = [flag for flag, *_ in _OPTIONS]
VARIABLES = [f"CANDLECAST_{field.upper()}" for _, field, *_ in _OPTIONS] + ["CANDLECAST_SIMULATE", "CANDLECAST_TESTNET"]
REFUSAL_TIMEOUT_S = 30.0  # seconds a refusing process is given; one that starts instead runs until killed

values = st.one_of(
    st.text(max_size=24),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(repr),  # nan, inf, -0.0, 1e+300 ...
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "65535",
            "65536",
            "nan",
            "-inf",
            "1e309",
            "0.0001",
            " 5 ",
            "1_000",
            "١٢",
            "",
            "ws://127.0.0.1:1",
            "http://127.0.0.1:1",
            "wss://h?q",
            "https://h:0",
            "http://[::1",
            "debug",
            "JSON",
            "0/second",
            "5/second;1/minute",
            "1/1000 days",
            "0-3",
            "0-99999999999",
            "btcusdt,ethusdt",
            "true",
        ]
    ),
)


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        flag, value = draw(st.sampled_from(FLAGS)), draw(values)
        argv += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
    return argv + draw(st.lists(st.sampled_from(["--simulate", "--testnet"]), max_size=2))


def _within_bounds(settings_: Settings) -> None:
    for flag, field, kind, _ in _OPTIONS:
        value = getattr(settings_, field)
        if isinstance(kind, Range):
            assert type(value) is kind.kind and kind.low <= value <= kind.high, (flag, value)
        elif isinstance(kind, Choice):
            assert value in kind.names, (flag, value)
        if type(value) in (int, float) and field != "sim_seed":
            assert math.isfinite(value) and value >= 0, (flag, value)
    assert urllib.parse.urlsplit(settings_.stream_url).scheme.lower() in ("ws", "wss")
    assert urllib.parse.urlsplit(settings_.rest_url).scheme.lower() in ("http", "https")
    assert len(settings_.symbols) <= settings_.max_symbols


@settings(max_examples=400, deadline=None)
@given(argv=command_lines(), environ=st.dictionaries(st.sampled_from(VARIABLES), values, max_size=4))
def test_any_command_line_and_environment_gives_settings_in_range_or_a_usage_error(
    argv: list[str],
    environ: dict[str, str],
) -> None:
    try:
        parsed = parse_settings(argv, environ=environ)
    except SystemExit as exc:
        assert exc.code == 2
        return
    _within_bounds(parsed)


def _refused(command: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """Run ``command`` with no CANDLECAST_* variable but ``env``; it must exit 2 at once, with no
    traceback. Returns its stderr lines."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CANDLECAST_")}
    finished = subprocess.run(
        command,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT_S,
        check=False,
    )
    assert "Traceback" not in finished.stderr
    assert finished.returncode == 2, finished.stderr[-2000:]
    return finished.stderr.splitlines()


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--http-port", "70000"], {}, "--http-port: 70000 is out of range (accepted: 0 to 65535)"),
        ([], {"CANDLECAST_STALE_AFTER_S": "nan"}, "CANDLECAST_STALE_AFTER_S: nan is out of range"),
        ([], {"CANDLECAST_SIMULATE": "maybe"}, "CANDLECAST_SIMULATE: not a boolean: 'maybe'"),
    ],
)
def test_the_daemon_refuses_a_bad_value_in_one_line_with_exit_2(
    argv: list[str],
    env: dict[str, str],
    named: str,
    tmp_path: Path,
) -> None:
    # --simulate and port 0 keep a daemon that wrongly starts on loopback until the timeout ends it.
    command = [sys.executable, str(ROOT / "run.py"), "--simulate", "--ws-port", "0", "--log-format", "json", *argv]
    lines = _refused(command, env, tmp_path)
    assert len(lines) == 1 and lines[0].startswith("run.py: error: ") and named in lines[0], lines


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--rest-port", "70000"], "--rest-port: 70000 is out of range"),
        (["--trades-per-second", "nan"], "--trades-per-second: nan is out of range"),
        (["--replay", "missing_btcusdt_trades_2021-01-08.csv"], "--replay: "),
    ],
)
def test_the_simulator_refuses_a_bad_value_with_exit_2(argv: list[str], named: str, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "candlecast.sim",
        "--rest-port",
        "0",
        "--ws-port",
        "0",
        "--log-format",
        "json",
        *argv,
    ]
    assert named in _refused(command, {}, tmp_path)[-1]


@pytest.mark.parametrize("field", ["trades_per_second", "ping_interval", "pong_timeout_s", "connection_lifetime_s"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_simulator_config_refuses_nan_and_infinite_rates_and_intervals(field: str, value: float) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**{field: value})
