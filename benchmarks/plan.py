"""How much each measurement does: the full run and the quick (CI) run."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """Counts and sizes of one benchmark run."""

    cold_launches: int
    echo_calls: int
    echo_warmup: int
    pipelined_calls: int
    hol_sleep_ms: int
    hol_echoes: int
    blob_sizes: tuple[int, ...]
    blob_repeats: int  # at most, per size
    blob_min_repeats: int
    blob_budget_s: float  # no new repeat starts after this, once blob_min_repeats are done
    idle_settle_s: float
    call_timeout_s: float
    blob_timeout_s: float
    # Echo and pipelined are measured this many times per bridge, each pass over all bridges,
    # every other pass in reverse order (A B C, C B A): a drift of the machine's speed during
    # the run then weighs the same on every bridge.
    session_passes: int


FULL = Plan(
    cold_launches=10,
    echo_calls=500,
    echo_warmup=20,
    pipelined_calls=2000,
    hol_sleep_ms=1000,
    hol_echoes=20,
    blob_sizes=(1 * MB, 4 * MB, 10 * MB, 16 * MB, 64 * MB),
    blob_repeats=9,
    blob_min_repeats=3,
    blob_budget_s=20.0,
    idle_settle_s=1.0,
    call_timeout_s=120.0,
    blob_timeout_s=180.0,
    session_passes=2,
)

QUICK = Plan(
    cold_launches=2,
    echo_calls=30,
    echo_warmup=3,
    pipelined_calls=100,
    hol_sleep_ms=300,
    hol_echoes=5,
    blob_sizes=(64 * 1024, 1 * MB),
    blob_repeats=1,
    blob_min_repeats=1,
    blob_budget_s=0.0,
    idle_settle_s=0.1,
    call_timeout_s=30.0,
    blob_timeout_s=30.0,
    session_passes=2,
)
