"""The direct baseline: the official MCP SDK client connected straight to the upstream, no bridge.

It runs inside the driver process, so there is no spawn in its "cold start" (connect + initialize
with the SDK already imported) and no separate process whose memory could be read.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel

from . import http_floor, procs
from .figures import ECHO_TEXT, hol_result, latency, summary_ms, throughput
from .plan import MB, Plan

# 2,000 concurrent calls with SSE responses each hold a connection until answered; the default
# 30 s pool timeout would fail the ones still queued, so queued requests wait as long as needed.
POOL_CONNECTIONS = 100


@contextlib.asynccontextmanager
async def connect(url: str, token: str) -> AsyncIterator[Any]:
    """An initialized SDK Client (legacy initialize handshake, like the bridges' clients)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=300.0, pool=None),
        # Idle connections are dropped after 4 s, before uvicorn closes them at 5 s: with the same
        # 5 s on both sides a request could go out on a connection the server was closing
        # (ReadError), which ends the SDK client's whole session.
        limits=httpx2.Limits(
            max_connections=POOL_CONNECTIONS,
            max_keepalive_connections=POOL_CONNECTIONS,
            keepalive_expiry=4.0,
        ),
    )
    async with http:
        transport = streamable_http_client(url, http_client=http, max_sse_event_size=None)
        async with Client(transport, mode="legacy", cache=None) as client:
            yield client


def _text(result: Any) -> str:
    if result.is_error:
        raise RuntimeError(f"tool error: {str(result)[:300]}")
    return str(result.content[0].text)


async def measure(url: str, token: str, plan: Plan) -> dict[str, Any]:
    """All figures the direct baseline has (no process of its own: no RSS)."""
    out: dict[str, Any] = {"cold_start": await _cold_start(url, token, plan), "idle_rss_mib": None}
    async with connect(url, token) as client:
        out["echo"] = await _echo(client, plan)
        out["head_of_line"] = await _head_of_line(client, plan)
        out["pipelined"] = await _pipelined(client, plan)
    out["blobs"] = [await _blob(url, token, plan, size) for size in plan.blob_sizes]
    return out


async def session_pass(url: str, token: str, plan: Plan) -> dict[str, Any]:
    """Echo and pipelined once more, in a fresh session: a later pass over the bridges."""
    async with connect(url, token) as client:
        return {"echo": await _echo(client, plan), "pipelined": await _pipelined(client, plan)}


async def _cold_start(url: str, token: str, plan: Plan) -> dict[str, Any]:
    samples: list[float] = []
    for i in range(plan.cold_launches + 1):
        started = time.perf_counter()
        async with connect(url, token):
            if i > 0:
                samples.append(time.perf_counter() - started)
    return {
        **summary_ms(samples),
        "samples_ms": [s * 1000 for s in samples],
        "note": "in-process connect + initialize, no spawn",
    }


async def _echo(client: Any, plan: Plan) -> dict[str, Any]:
    for _ in range(plan.echo_warmup):
        await client.call_tool("echo", {"text": ECHO_TEXT})
    samples: list[float] = []
    for _ in range(plan.echo_calls):
        started = time.perf_counter()
        result = await client.call_tool("echo", {"text": ECHO_TEXT})
        samples.append(time.perf_counter() - started)
        if _text(result) != ECHO_TEXT:
            raise RuntimeError("echo returned the wrong text")
    return latency(samples)


async def _head_of_line(client: Any, plan: Plan) -> dict[str, Any]:
    echo_times: list[float] = []
    sleep_time: list[float] = []
    started = time.perf_counter()

    async def sleep_call() -> None:
        _text(await client.call_tool("sleep", {"ms": plan.hol_sleep_ms}))
        sleep_time.append(time.perf_counter() - started)

    async def echo_call() -> None:
        _text(await client.call_tool("echo", {"text": ECHO_TEXT}))
        echo_times.append(time.perf_counter() - started)

    with anyio.fail_after(plan.call_timeout_s):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleep_call)
            await anyio.lowlevel.checkpoint()  # the sleep is sent first
            for _ in range(plan.hol_echoes):
                tg.start_soon(echo_call)
    return hol_result(plan, max(echo_times), sleep_time[0])


async def _pipelined(client: Any, plan: Plan) -> dict[str, Any]:
    ok = 0
    errors: list[str] = []
    last = started = time.perf_counter()

    async def one() -> None:
        nonlocal ok, last
        try:
            text = _text(await client.call_tool("echo", {"text": ECHO_TEXT}))
        except Exception as exc:  # noqa: BLE001 -- every failure is counted, none may stop the run
            errors.append(repr(exc)[:300])
            return
        if text == ECHO_TEXT:
            ok += 1
            last = time.perf_counter()

    with anyio.move_on_after(plan.call_timeout_s):
        async with anyio.create_task_group() as tg:
            for _ in range(plan.pipelined_calls):
                tg.start_soon(one)
    result = throughput(plan.pipelined_calls, ok, last - started)
    if errors:
        result["first_error"] = errors[0]
    return result


async def _blob(url: str, token: str, plan: Plan, size: int) -> dict[str, Any]:
    async with (
        connect(url, token) as client,
        http_floor.connect(url, token, plan.blob_timeout_s) as floor,
    ):
        await client.call_tool("blob", {"n": 16})  # as for the bridges: first-call costs excluded
        cpu = procs.CpuTimer(os.getpid())  # the client runs in this process

        async def call() -> float:
            started = time.perf_counter()
            with cpu, anyio.fail_after(plan.blob_timeout_s):
                result = await client.call_tool("blob", {"n": size})
            elapsed = (time.perf_counter() - started) * 1000
            if len(_text(result)) != size:
                raise RuntimeError("blob came back with the wrong length")
            return elapsed

        ms, floor_ms = await http_floor.paired_runs(plan, floor, size, call)
    return {
        "bytes": size,
        "mb": size / MB,
        **http_floor.summary(ms, floor_ms),
        **cpu.summary(),
        "peak_rss_mib": None,
    }
