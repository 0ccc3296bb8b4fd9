"""The floor under every client: the same tool calls as plain HTTP POSTs, bodies read, not parsed.

What remains of a blob round trip here is the upstream producing the result and loopback
carrying it. A bridge's time minus this floor is what the bridge itself adds (its HTTP client,
its checks, its stdout pipe to the driver); the report judges how that part grows with size,
because the SDK upstream's own time does not grow linearly (it allocates several copies of a
64 MB result).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from .plan import MB, Plan
from .stdio_driver import PROTOCOL_VERSION, initialize_request, tool_call

ACCEPT = "application/json, text/event-stream"


async def measure(url: str, token: str, plan: Plan) -> dict[str, Any]:
    """Blob round trips without any MCP client: POST, read the whole body, stop the clock."""
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    timeout = httpx.Timeout(30.0, read=plan.blob_timeout_s)
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as http:
        response = await http.post(url, json=initialize_request(0))
        response.raise_for_status()
        session = response.headers.get("mcp-session-id")
        if session:
            http.headers["Mcp-Session-Id"] = session
        http.headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
        done = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        done.raise_for_status()
        blobs = [await _blob(http, url, plan, size) for size in plan.blob_sizes]
    return {"blobs": blobs, "note": "plain HTTP POST, body read, nothing parsed"}


async def _blob(http: httpx.AsyncClient, url: str, plan: Plan, size: int) -> dict[str, Any]:
    await _call(http, url, 16)  # as for the bridges: first-call costs excluded
    ms: list[float] = []
    for _ in range(plan.blob_repeats):
        started = time.perf_counter()
        body = await _call(http, url, size)
        ms.append((time.perf_counter() - started) * 1000)
        if len(body) < size:
            raise RuntimeError(f"blob body of {len(body)} bytes for {size}")
    return {
        "bytes": size,
        "mb": size / MB,
        "median_ms": statistics.median(ms),
        "samples_ms": ms,
        "peak_rss_mib": None,
    }


async def _call(http: httpx.AsyncClient, url: str, size: int) -> bytes:
    response = await http.post(url, json=tool_call(1, "blob", {"n": size}))
    response.raise_for_status()
    return response.content
