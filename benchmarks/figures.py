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
    return latency_ms([s * 1000 for s in samples_s])


def latency_ms(ms: list[float]) -> dict[str, Any]:
    """p50, p99 and mean of round trips in milliseconds; the samples are kept for pooling."""
    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "samples_ms": ms,
    }


def pool_passes(passes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Echo and pipelined figures of several passes over one bridge, as one figure each.

    Echo: the percentiles of all round trips together. Pipelined: every call
    of every pass over the time all passes took (``calls`` and ``ok`` add up).
    Each pass's own p50 and rate stay beside them.
    """
    echoes = [p["echo"] for p in passes]
    rounds = [p["pipelined"] for p in passes]
    echo = latency_ms([ms for e in echoes for ms in e["samples_ms"]])
    echo["passes_p50_ms"] = [e["p50_ms"] for e in echoes]
    calls = sum(r["calls"] for r in rounds)
    ok = sum(r["ok"] for r in rounds)
    pipelined = throughput(calls, ok, sum(r["elapsed_s"] for r in rounds))
    pipelined["passes_msgs_per_s"] = [r["msgs_per_s"] for r in rounds]
    errors = [r["first_error"] for r in rounds if "first_error" in r]
    if errors:
        pipelined["first_error"] = errors[0]
    return {"echo": echo, "pipelined": pipelined}


def pass_orders(names: Sequence[str], passes: int) -> list[list[str]]:
    """The order of the bridges in each pass: as given, then reversed, and so on."""
    return [list(names) if i % 2 == 0 else list(reversed(names)) for i in range(passes)]


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
