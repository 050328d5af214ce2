"""run.py as a real process, as an operator runs it: its log read line by line, its signals."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.data_dirs import fresh_data_dir

ROOT = Path(__file__).resolve().parents[1]


class Daemon:
    def __init__(self, *args: str, open_files: int | None = None) -> None:
        """``open_files``: the soft open-file limit it starts with, as a system might set it."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                "--http-port",
                "0",
                "--ws-port",
                "0",
                "--host",
                "127.0.0.1",
                "--log-format",
                "json",
                "--data-dir",
                fresh_data_dir(),
                *args,
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            preexec_fn=None if open_files is None else lambda: lower_open_files(open_files),  # noqa: PLW1509 (only setrlimit)
        )
        self.lines: list[dict[str, Any]] = []

    def read_until(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            record = json.loads(line)
            self.lines.append(record)
            if record.get("event") == event:
                return record
        raise AssertionError(f"{event!r} not logged; got {[r.get('event') for r in self.lines]}")

    def stop(self, signum: int, *more: int, within_s: float = 15.0) -> tuple[int, str]:
        """Send ``signum`` (and ``more`` signals, all delivered together), wait up to ``within_s``
        for the exit: (exit code, what it logged meanwhile); still running then fails the test."""
        if more:
            self.process.send_signal(signal.SIGSTOP)  # pending together when it resumes
        for each in (signum, *more):
            self.process.send_signal(each)
        if more:
            self.process.send_signal(signal.SIGCONT)
        try:
            _, rest = self.process.communicate(timeout=within_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, rest = self.process.communicate()
            raise AssertionError(f"still running {within_s} s after the signal; logged: {rest[-3000:]}") from None
        return self.process.returncode, rest

    def stops_cleanly(self, signum: int = signal.SIGTERM) -> list[dict[str, Any]]:
        """Stops with code 0 within the 5 s an operator is promised; what it logged meanwhile."""
        code, rest = self.stop(signum, within_s=STOP_PROMISED_S)
        assert code == 0, (code, rest[-3000:])
        assert "Traceback" not in rest, rest
        return [json.loads(line) for line in rest.splitlines() if line.startswith("{")]


STOP_PROMISED_S = 5.0


def lower_open_files(soft: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
