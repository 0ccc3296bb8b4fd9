"""The floor under every client: the same tool call as a plain HTTP POST, body read, not parsed.

What remains of a blob round trip here is the upstream producing the result and loopback
carrying it. Each blob measurement pairs every bridge call with a floor call to the same
upstream (``paired_runs``), so a bridge's time minus the floor is what the bridge itself adds
(its HTTP client, its checks, its stdout pipe to the driver) with the upstream's own variance
taken out. The report judges how that part grows with size, because the SDK upstream's time
does not grow linearly by itself (it holds several copies of a 64 MB result).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from .plan import Plan
from .stdio_driver import PROTOCOL_VERSION, initialize_request, tool_call

ACCEPT = "application/json, text/event-stream"


class FloorClient:
    """An initialized plain-HTTP session on the upstream that times blob calls."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    async def blob_ms(self, size: int) -> float:
        """One ``blob`` call: POST, read the whole body, stop the clock."""
        started = time.perf_counter()
        response = await self._http.post(self._url, json=tool_call(1, "blob", {"n": size}))
        response.raise_for_status()
        body = response.content
        elapsed = (time.perf_counter() - started) * 1000
        if len(body) < size:
            raise RuntimeError(f"floor call: a body of {len(body)} bytes for a {size}-byte blob")
        return elapsed


@contextlib.asynccontextmanager
async def connect(url: str, token: str, timeout_s: float) -> AsyncIterator[FloorClient]:
    """A session of its own on the upstream (initialize, initialized), closed on exit."""
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    timeout = httpx.Timeout(30.0, read=timeout_s)
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as http:
        response = await http.post(url, json=initialize_request(0))
        response.raise_for_status()
        session = response.headers.get("mcp-session-id")
        if session:
            http.headers["Mcp-Session-Id"] = session
        http.headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
        done = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        done.raise_for_status()
        floor = FloorClient(http, url)
        await floor.blob_ms(16)  # first-call costs excluded, as for the bridges
        yield floor


async def paired_runs(
    plan: Plan, floor: FloorClient, size: int, call: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    """Calls through the bridge (``call`` returns its milliseconds) paired with floor calls.

    The order alternates (floor first, then bridge first) so that whatever one call leaves
    behind in the upstream weighs on both sides alike. Up to ``blob_repeats`` pairs; after
    ``blob_min_repeats``, no new pair starts once ``blob_budget_s`` is spent, so a bridge
    that takes 50 s for a 64 MB result is measured three times, not nine.
    """
    ms: list[float] = []
    floor_ms: list[float] = []
    started = time.perf_counter()
    for i in range(plan.blob_repeats):
        if i >= plan.blob_min_repeats and time.perf_counter() - started > plan.blob_budget_s:
            break
        if i % 2 == 0:
            floor_ms.append(await floor.blob_ms(size))
            ms.append(await call())
        else:
            ms.append(await call())
            floor_ms.append(await floor.blob_ms(size))
    return ms, floor_ms


def summary(ms: list[float], floor_ms: list[float]) -> dict[str, Any]:
    """Medians of the calls, of their floor calls, and of what each call added to its floor."""
    return {
        "median_ms": statistics.median(ms),
        "samples_ms": ms,
        "floor_median_ms": statistics.median(floor_ms),
        "floor_samples_ms": floor_ms,
        "added_median_ms": statistics.median(a - f for a, f in zip(ms, floor_ms, strict=True)),
    }
