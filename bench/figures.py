"""Percentiles and one-line summaries shared by the benchmarks."""

from __future__ import annotations

import statistics


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:>14}: none"
    return (f"{label:>14}: n={len(values):5d}  p50={statistics.median(values):6.1f} ms  "
            f"p99={percentile(values, 0.99):6.1f} ms  max={max(values):6.1f} ms")
