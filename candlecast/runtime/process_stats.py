"""What the process itself holds, for /health: memory, threads and open files.

Memory grows with the candles kept and with connections, so an operator watches it beside the
counters. Read from /proc (Linux); elsewhere memory and open files are None.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

STATM = Path("/proc/self/statm")
FD_DIR = Path("/proc/self/fd")


def process_stats() -> dict[str, int | None]:
    return {"rss_bytes": _rss_bytes(), "threads": threading.active_count(), "open_files": _open_files()}


def _rss_bytes() -> int | None:
    try:
        return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _open_files() -> int | None:
    try:
        return len(os.listdir(FD_DIR))
    except OSError:
        return None
