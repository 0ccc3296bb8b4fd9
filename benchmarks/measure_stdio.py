"""The six measurements, taken through a stdio bridge with raw JSON-RPC."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import http_floor, procs
from .figures import ECHO_TEXT, hol_result, latency, summary_ms, throughput
from .plan import MB, Plan
from .stdio_driver import Bridge, BridgeError, Reply, StdioSession, tool_call, tool_text


async def cold_start(bridge: Bridge, plan: Plan) -> dict[str, Any]:
    """Spawn → initialize response, over fresh launches (one unmeasured warm-up first)."""
    samples: list[float] = []
    for i in range(plan.cold_launches + 1):
        session = StdioSession(bridge)
        try:
            started = time.perf_counter()
            await session.spawn()
            reply = await session.initialize(timeout=plan.call_timeout_s)
            if i > 0:  # the first launch warms OS and package-manager caches
                samples.append(reply.at - started)
        finally:
            await session.close()
    return {**summary_ms(samples), "samples_ms": [s * 1000 for s in samples]}


async def session_figures(bridge: Bridge, plan: Plan) -> dict[str, Any]:
    """Idle RSS, sequential echo, head-of-line and pipelined throughput, each isolated."""
    out: dict[str, Any] = {}
    steps = [("echo", _echo), ("head_of_line", _head_of_line), ("pipelined", _pipelined)]
    session: StdioSession | None = None
    try:
        for key, step in steps:
            if session is None:
                session = StdioSession(bridge)
                await session.spawn()
                await session.initialize(timeout=plan.call_timeout_s)
                if "idle_rss_mib" not in out:
                    await asyncio.sleep(plan.idle_settle_s)
                    reading = session.memory()
                    out["idle_rss_mib"] = reading.rss_mib if reading else None
            try:
                out[key] = await step(session, plan)
            except BridgeError as exc:
                out[key] = {"error": str(exc)}
                await session.close()
                session = None  # the next step gets a fresh bridge
            if session is not None and session.exit_code is not None:
                await session.close()
                session = None
        if session is not None:
            reading = session.memory()
            out["session_peak_rss_mib"] = reading.hwm_mib if reading else None
    finally:
        if session is not None:
            await session.close()
    return out


async def session_pass(bridge: Bridge, plan: Plan) -> dict[str, Any]:
    """Echo and pipelined once more, in a fresh session: a later pass over the bridges."""
    async with StdioSession(bridge) as session:
        await session.initialize(timeout=plan.call_timeout_s)
        return {"echo": await _echo(session, plan), "pipelined": await _pipelined(session, plan)}


async def idle_rss(bridge: Bridge, plan: Plan) -> float | None:
    """RSS of the bridge process once initialized and left alone."""
    async with StdioSession(bridge) as session:
        await session.initialize(timeout=plan.call_timeout_s)
        await asyncio.sleep(plan.idle_settle_s)
        reading = session.memory()
    return reading.rss_mib if reading else None


async def _echo(session: StdioSession, plan: Plan) -> dict[str, Any]:
    for _ in range(plan.echo_warmup):
        await session.call("echo", {"text": ECHO_TEXT}, plan.call_timeout_s)
    samples: list[float] = []
    for _ in range(plan.echo_calls):
        started = time.perf_counter()
        reply = await session.call("echo", {"text": ECHO_TEXT}, plan.call_timeout_s)
        samples.append(reply.at - started)
        if tool_text(reply) != ECHO_TEXT:
            raise BridgeError("echo returned the wrong text")
    return latency(samples)


async def _head_of_line(session: StdioSession, plan: Plan) -> dict[str, Any]:
    sleep_msg = tool_call(session.next_id(), "sleep", {"ms": plan.hol_sleep_ms})
    echoes = [
        tool_call(session.next_id(), "echo", {"text": ECHO_TEXT}) for _ in range(plan.hol_echoes)
    ]
    sleep_future = session.expect(sleep_msg["id"])
    echo_futures = [session.expect(m["id"]) for m in echoes]
    started = time.perf_counter()
    session.write([sleep_msg])
    await session.drain()
    for message in echoes:  # one write each, as a client sending them one by one would
        session.write([message])
    await session.drain()
    timeout = plan.call_timeout_s
    echo_replies = [await session.wait(f, timeout) for f in echo_futures]
    sleep_reply = await session.wait(sleep_future, timeout)
    for reply in echo_replies:
        tool_text(reply)
    tool_text(sleep_reply)
    echoes_done = max(r.at for r in echo_replies) - started
    sleep_done = sleep_reply.at - started
    return hol_result(plan, echoes_done, sleep_done)


async def _pipelined(session: StdioSession, plan: Plan) -> dict[str, Any]:
    messages = [
        tool_call(session.next_id(), "echo", {"text": ECHO_TEXT})
        for _ in range(plan.pipelined_calls)
    ]
    futures = [session.expect(m["id"]) for m in messages]
    started = time.perf_counter()
    session.write(messages)  # all of them, without waiting for any answer
    await session.drain()
    done, not_done = await asyncio.wait(futures, timeout=plan.call_timeout_s)
    for future in not_done:
        future.cancel()
    ok = 0
    last = started
    for future in done:
        if future.exception() is None and _is_echo(future.result()):
            ok += 1
            last = max(last, future.result().at)
    elapsed = last - started
    result = throughput(plan.pipelined_calls, ok, elapsed)
    if ok < plan.pipelined_calls:
        first_bad = next(
            (str(f.exception() or f.result().message)[:300] for f in done if not _good(f)),
            "timed out",
        )
        result["first_error"] = first_bad
    return result


def _good(future: asyncio.Future[Reply]) -> bool:
    return future.exception() is None and _is_echo(future.result())


def _is_echo(reply: Reply) -> bool:
    try:
        return tool_text(reply) == ECHO_TEXT
    except BridgeError:
        return False


async def blobs(bridge: Bridge, plan: Plan, url: str, token: str) -> list[dict[str, Any]]:
    """Large tool results: round-trip time, CPU time and peak RSS, a fresh bridge per size.

    Each call through the bridge is paired with a plain-HTTP call of the same size to the same
    upstream (``http_floor.paired_runs``): the paired difference is what the bridge adds. The
    bridge process's CPU time over each call is what the bridge spends on it, whatever the
    upstream and the machine's other load do to the clock on the wall.
    """
    out: list[dict[str, Any]] = []
    async with http_floor.connect(url, token, plan.blob_timeout_s) as floor:
        for size in plan.blob_sizes:
            entry: dict[str, Any] = {"bytes": size, "mb": size / MB}
            try:
                entry.update(await _blob_size(bridge, plan, size, floor))
            except BridgeError as exc:
                entry["error"] = str(exc)
            out.append(entry)
    return out


async def _blob_size(
    bridge: Bridge, plan: Plan, size: int, floor: http_floor.FloorClient
) -> dict[str, Any]:
    async with StdioSession(bridge) as session:
        await session.initialize(timeout=plan.call_timeout_s)
        # One small call first: the first tool call of a session pays one-off costs (validators,
        # connection set-up) on every side that are not what this figure is about.
        await session.call("blob", {"n": 16}, plan.call_timeout_s)
        bridge_process = session.memory()
        cpu = procs.CpuTimer(bridge_process.pid if bridge_process else None)

        async def call() -> float:
            started = time.perf_counter()
            with cpu:
                reply = await session.call("blob", {"n": size}, plan.blob_timeout_s)
            if len(tool_text(reply)) != size:
                raise BridgeError("blob came back with the wrong length")
            return (reply.at - started) * 1000

        ms, floor_ms = await http_floor.paired_runs(plan, floor, size, call)
        reading = session.memory()
    return {
        **http_floor.summary(ms, floor_ms),
        **cpu.summary(),
        "peak_rss_mib": reading.hwm_mib if reading else None,
        "rss_process": reading.name if reading else None,
    }
