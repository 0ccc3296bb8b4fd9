"""Shapes of the figures every baseline and bridge reports, and the statistics behind them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from .plan import Plan

ECHO_TEXT = "hello"


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Median, p99, min and max of samples taken in seconds, in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "median_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def latency(samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
    }


def hol_result(plan: Plan, echoes_done_s: float, sleep_done_s: float) -> dict[str, Any]:
    return {
        "sleep_ms": plan.hol_sleep_ms,
        "echoes": plan.hol_echoes,
        "echoes_done_ms": echoes_done_s * 1000,
        "sleep_done_ms": sleep_done_s * 1000,
        "echoes_before_sleep": echoes_done_s < sleep_done_s,
    }


def throughput(calls: int, ok: int, elapsed_s: float) -> dict[str, Any]:
    return {
        "calls": calls,
        "ok": ok,
        "errors": calls - ok,
        "elapsed_s": elapsed_s,
        "msgs_per_s": ok / elapsed_s if elapsed_s > 0 else None,
    }
