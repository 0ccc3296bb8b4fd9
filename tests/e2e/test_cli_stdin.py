from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from mcp_oauth2_proxy.stdio import STDOUT_PIPE_BYTES, LineSplitter

from .conftest import MODES, Upstream

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


class Lines:
    def __init__(self, process: Process) -> None:
        assert process.stdout is not None
        self.stdout = process.stdout
        self.splitter = LineSplitter()
        self.ready: list[bytes] = []

    async def next(self) -> bytes:
        while not self.ready:
            self.ready.extend(self.splitter.feed(await self.stdout.receive(1 << 20)))
        return self.ready.pop(0)

    async def next_json(self) -> Any:
        return json.loads(await self.next())


async def test_invalid_lines_are_answered_and_a_50_mb_message_passes_both_ways() -> None:
    server = Upstream(MODES["stateless-json"])
    env = {**os.environ, "LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "mcp_oauth2_proxy", server.url, "--grant", "none"]
    try:
        async with await anyio.open_process(command, env=env, stderr=None) as process:
            assert process.stdin is not None
            lines = Lines(process)
            for bad in (b"{bad", b"null", b"42", b"[]", b"\xff\xfe\xfd", b"   "):
                await process.stdin.send(bad + b"\n")
            answers = [await lines.next_json() for _ in range(5)]
            assert [a["error"]["code"] for a in answers] == [-32700, -32600, -32600, -32600, -32700]
            assert all(a["id"] is None for a in answers)

            await process.stdin.send(json.dumps(INIT).encode() + b"\r\n")
            assert (await lines.next_json())["result"]["protocolVersion"] == "2025-06-18"
            if sys.platform == "linux":  # the proxy grew its stdout pipe: 16x fewer hand-offs
                assert _pipe_size(process) == STDOUT_PIPE_BYTES
            await process.stdin.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            await process.stdin.send(b'{"jsonrpc":"2.0","id":"bad","result":1,"error":{}}\n')
            invalid = await lines.next_json()
            assert (invalid["id"], invalid["error"]["code"]) == ("bad", -32600)

            text = "é" * 25_000_000  # 50 MB of UTF-8
            call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
            call["params"] = {"name": "echo", "arguments": {"text": text}}
            await process.stdin.send(json.dumps(call, ensure_ascii=False).encode() + b"\n")
            answer = await lines.next_json()
            assert answer["id"] == 7
            assert answer["result"]["content"][0]["text"] == text

            await process.stdin.aclose()
            assert await process.wait() == 0
    finally:
        server.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_ends_the_proxy_cleanly_with_exit_code_0() -> None:
    server = Upstream(MODES["stateful-sse"])
    env = {**os.environ, "LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "mcp_oauth2_proxy", server.url, "--grant", "none"]
    try:
        async with await anyio.open_process(command, env=env, stderr=None) as process:
            assert process.stdin is not None
            lines = Lines(process)
            await process.stdin.send(json.dumps(INIT).encode() + b"\n")
            assert (await lines.next_json())["id"] == 0
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                assert await process.wait() == 0
    finally:
        server.stop()


def _pipe_size(process: Process) -> int:
    """The size of the pipe behind the process's stdout, seen through /proc (Linux)."""
    import fcntl

    fd = os.open(f"/proc/{process.pid}/fd/1", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(fd)
