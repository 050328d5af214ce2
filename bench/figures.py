"""Percentiles and one-line summaries shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:>14}: none"
    return (
        f"{label:>14}: n={len(values):5d}  p50={statistics.median(values):6.1f} ms  "
        f"p99={percentile(values, 0.99):6.1f} ms  max={max(values):6.1f} ms"
    )


def machine() -> str:
    """One line naming what a figure was measured on: cores, CPU model, memory, kernel, Python."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({model}), {memory_kib / 2**20:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )
