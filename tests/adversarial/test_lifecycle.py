"""The real CLI under hostile lifecycles: EOF at the worst moment, signals twice, dead stdout."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from anyio.abc import Process

from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.stdio import LineSplitter, StdioReader
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport
from tests.integration.helpers import INITIALIZE, INITIALIZED, Sink, request
from tests.integration.rawhttp import RawRequest, raw_server
from tests.support.oauth_server import CLIENT_ID
from tests.support.served import ServedAuthServer

from .conftest import stdout_lines_are_jsonrpc

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes"),
]
SESSION = "session-1234"


class Proxy:
    """One CLI process: JSON lines in and out, stderr collected in the background."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.splitter = LineSplitter()
        self.lines: list[bytes] = []
        self.stderr = ""
        self.stderr_changed = anyio.Event()

    async def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(line + b"\n")

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    async def next_json(self) -> Any:
        assert self.process.stdout is not None
        while not self.lines:
            self.lines.extend(self.splitter.feed(await self.process.stdout.receive(1 << 20)))
        return json.loads(self.lines.pop(0))

    async def rest(self) -> list[bytes]:
        """Everything left on stdout until the process closes it."""
        assert self.process.stdout is not None
        try:
            while True:
                self.lines.extend(self.splitter.feed(await self.process.stdout.receive(1 << 20)))
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass
        self.lines.extend(self.splitter.close())
        rest, self.lines = self.lines, []
        return rest

    async def collect_stderr(self) -> None:
        assert self.process.stderr is not None
        try:
            async for chunk in self.process.stderr:
                self.stderr += chunk.decode("utf-8", "replace")
                self.stderr_changed.set()
                self.stderr_changed = anyio.Event()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass

    async def stderr_match(self, pattern: str) -> re.Match[str]:
        while (found := re.search(pattern, self.stderr)) is None:
            await self.stderr_changed.wait()
        return found


@asynccontextmanager
async def proxy(url: str, *args: str, **env: str) -> AsyncIterator[Proxy]:
    command = [sys.executable, "-m", "mcp_oauth2_proxy", url, *args]
    environment = {**os.environ, "LOG_LEVEL": "info", "LOG_FORMAT": "json", **env}
    async with await anyio.open_process(command, env=environment) as process:
        running = Proxy(process)
        async with anyio.create_task_group() as tg:
            tg.start_soon(running.collect_stderr)
            try:
                yield running
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


def upstream_handler(hang: anyio.Event | None = None) -> Any:
    """Initialize with a session; ``tools/call`` hangs until ``hang`` is set; DELETE is fine."""

    async def handle(req: RawRequest) -> None:
        if req.method == "DELETE":
            await req.reply(200)
            return
        if req.method == "GET":
            await req.reply(405)
            return
        message = req.json()
        if "id" not in message:
            await req.reply(202)
            return
        if message.get("method") == "tools/call":
            await (hang or anyio.Event()).wait()
        result = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {}}
        body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        await req.reply(200, body, Mcp_Session_Id=SESSION)

    return handle


async def start_session(running: Proxy) -> None:
    await running.send(INITIALIZE)
    assert (await running.next_json())["id"] == 0
    await running.send(INITIALIZED)


async def test_eof_mid_request_answers_it_deletes_the_session_and_exits_0() -> None:
    async with (
        raw_server(upstream_handler()) as server,
        proxy(server.url, "--grant", "none", "--no-server-stream") as running,
    ):
        await start_session(running)
        await running.send(request(5, "tools/call", name="slow"))
        await server.wait_for(3)  # initialize, initialized, the call
        started = time.monotonic()
        await running.close_stdin()
        with anyio.fail_after(15):
            rest = await running.rest()
            assert await running.process.wait() == 0
        elapsed = time.monotonic() - started
    [reply] = stdout_lines_are_jsonrpc(rest)
    assert reply["id"] == 5
    assert reply["error"]["code"] == -32000
    assert "shutting down" in reply["error"]["message"]
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].headers["mcp-session-id"] == SESSION
    assert elapsed < 10
    assert "Traceback" not in running.stderr


@pytest.mark.parametrize("signals", [("SIGTERM", "SIGTERM"), ("SIGINT", "SIGTERM")])
async def test_a_second_signal_skips_the_grace_period_yet_answers_and_deletes(
    signals: tuple[str, str],
) -> None:
    async with (
        raw_server(upstream_handler()) as server,
        proxy(server.url, "--grant", "none", "--no-server-stream") as running,
    ):
        await start_session(running)
        await running.send(request(5, "tools/call", name="slow"))
        await server.wait_for(3)
        started = time.monotonic()
        running.process.send_signal(getattr(signal, signals[0]))
        await running.stderr_match("bridge.signal")
        running.process.send_signal(getattr(signal, signals[1]))
        with anyio.fail_after(15):
            rest = await running.rest()
            assert await running.process.wait() == 0
        elapsed = time.monotonic() - started
    [reply] = stdout_lines_are_jsonrpc(rest)
    assert reply["id"] == 5
    assert "error" in reply
    assert any(r.method == "DELETE" for r in server.requests)
    assert elapsed < 3  # the grace period is 5 s
    assert "Traceback" not in running.stderr


async def test_a_closed_stdout_ends_the_proxy_quietly() -> None:
    async with raw_server(upstream_handler()) as server:
        command = [sys.executable, "-m", "mcp_oauth2_proxy", server.url, "--grant", "none"]
        command.append("--no-server-stream")
        env = {**os.environ, "LOG_LEVEL": "info", "LOG_FORMAT": "json"}

        def client_goes_away() -> tuple[int, bytes]:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(INITIALIZE + b"\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["id"] == 0
            proc.stdout.close()  # the reading end is gone: the next write gets EPIPE
            for i in range(1, 4):
                proc.stdin.write(request(i, "ping") + b"\n")
                proc.stdin.flush()
            try:
                _, err = proc.communicate(timeout=15)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            return proc.returncode, err

        code, err = await anyio.to_thread.run_sync(client_goes_away)
    stderr = err.decode("utf-8", "replace")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "stdio.stdout_closed" in stderr
    assert any(r.method == "DELETE" for r in server.requests)


async def test_eof_mid_login_closes_the_listener_answers_and_exits_0(tmp_path: Path) -> None:
    with ServedAuthServer() as auth:
        async with proxy(
            auth.mcp_url,
            "--no-server-stream",
            OAUTH2_CLIENT_ID=CLIENT_ID,
            OAUTH2_OPEN_BROWSER="false",
            OAUTH2_CALLBACK_PORT="0",
            OAUTH2_TOKEN_STORE="file",
            OAUTH2_TOKEN_CACHE_DIR=str(tmp_path / "cache"),
            TMPDIR=str(tmp_path),
        ) as running:
            with anyio.fail_after(20):
                found = await running.stderr_match(
                    r"redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A(\d+)"
                )
            port = int(found.group(1))
            await running.send(request(9, "tools/list"))
            await running.close_stdin()
            with anyio.fail_after(15):
                rest = await running.rest()
                assert await running.process.wait() == 0
    [reply] = stdout_lines_are_jsonrpc(rest)
    assert reply["id"] == 9
    assert "error" in reply
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert "Traceback" not in running.stderr
    assert _leftovers(tmp_path) == []


def _leftovers(tmp_path: Path) -> list[str]:
    """Temporary files a run left in TMPDIR or in the token cache."""
    stray = [p.name for p in tmp_path.iterdir() if p.name != "cache"]
    return stray + [p.name for p in (tmp_path / "cache").rglob("*.tmp")]


async def test_a_hundred_start_stop_cycles_leak_no_descriptors_threads_or_tasks() -> None:
    def census() -> tuple[int, int, int]:
        return (
            sum(1 for _ in Path("/proc/self/fd").iterdir())
            if Path("/proc/self/fd").exists()
            else 0,
            threading.active_count(),
            len(asyncio.all_tasks()),
        )

    async with raw_server(upstream_handler()) as server:

        async def cycle() -> None:
            sink = Sink()
            data = b"\n".join([INITIALIZE, INITIALIZED, request(1, "ping"), b"not json", b""])
            async with httpx.AsyncClient(timeout=5) as client:
                transport = StreamableHttpTransport(client, server.url, timeout_s=5)
                bridge = Bridge(transport, sink, open_server_stream=False, grace_s=0.5)
                await bridge.run(StdioReader(read=_reader(data)))
            assert len(sink.raw) == 3

        await cycle()  # warm up lazy imports and pools
        before = census()
        for _ in range(100):
            await cycle()
        await anyio.lowlevel.checkpoint()  # let finished reader threads be reaped
        after = census()
    assert after[0] <= before[0] + 2, (before, after)
    assert after[2] <= before[2], (before, after)
    for thread in threading.enumerate():
        if thread.name == "stdin-reader":
            thread.join(timeout=5)  # each returns right after handing over EOF
    assert threading.active_count() <= before[1]
    assert sum(r.method == "DELETE" for r in server.requests) == 101


def _reader(data: bytes) -> Any:
    import io

    return io.BytesIO(data).read
