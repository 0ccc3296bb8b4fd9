"""Raw newline-delimited JSON-RPC over a bridge's stdio, the same way for every bridge.

The driver writes request lines to the bridge's stdin and matches response lines from its stdout by
id. Arrival times are taken when a line has been read, before it is parsed, so the driver's own JSON
parsing is not charged to the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import procs

PROTOCOL_VERSION = "2025-06-18"
READ_CHUNK = 1 << 20
STDERR_TAIL = 2000


class BridgeError(Exception):
    """The bridge exited, timed out or answered with something unusable."""


@dataclass(frozen=True)
class Bridge:
    """A stdio bridge to measure: a command line, its environment additions and a label."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    launch_only: bool = False  # a launcher variant: cold start and idle RSS only
    note: str = ""


@dataclass(frozen=True)
class Reply:
    """One JSON-RPC response and when its line arrived (time.perf_counter seconds)."""

    at: float
    message: dict[str, Any]
    size: int


def initialize_request(request_id: int) -> dict[str, Any]:
    """The initialize request every bridge receives."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-oauth2-proxy-benchmark", "version": "1"},
        },
    }


def tool_call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tools/call request."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def tool_text(reply: Reply) -> str:
    """The text of a tools/call result, or raise BridgeError naming what came back instead."""
    message = reply.message
    try:
        result = message["result"]
        if result.get("isError"):
            raise BridgeError(f"tool error: {str(result)[:300]}")
        return str(result["content"][0]["text"])
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise BridgeError(f"unexpected reply: {str(message)[:300]}") from exc


class StdioSession:
    """One running bridge process and the JSON-RPC traffic over its stdio."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int | str, asyncio.Future[Reply]] = {}
        self._eof_task: asyncio.Future[None] | None = None
        self._closed = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in close()
        self._next_id = 0
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        """Pid of the spawned process (possibly a launcher)."""
        assert self._proc is not None
        return self._proc.pid

    async def spawn(self) -> None:
        """Start the bridge process."""
        env = {**os.environ, **self.bridge.env}
        # A user's machine keeps bytecode caches; with PYTHONDONTWRITEBYTECODE inherited (some CI
        # images set it) every launch of a Python bridge from a fresh environment (uvx's, a
        # peer's venv) would compile all it imports again: ~190 ms per proxy launch via uvx.
        if "PYTHONDONTWRITEBYTECODE" not in self.bridge.env:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        # stdout is a plain pipe read by a thread, not an asyncio stream: asyncio's reader took
        # 3.3 ms/MB for a 64 MB line against ~1.8 ms/MB at 4 MB, so the driver itself would have
        # made every bridge look superlinear. Blocking reads into one buffer: 1.4-2.2 ms/MB.
        read_fd, write_fd = os.pipe()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.bridge.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=write_fd,
                stderr=self._stderr,
                env=env,
                cwd=self.bridge.cwd,
                start_new_session=(os.name == "posix"),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._read_stdout, args=(read_fd, loop), name="bridge-stdout", daemon=True
        ).start()

    def next_id(self) -> int:
        """A fresh request id."""
        self._next_id += 1
        return self._next_id

    def expect(self, request_id: int) -> asyncio.Future[Reply]:
        """A future resolved by the response with this id."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def write(self, messages: Sequence[dict[str, Any]]) -> None:
        """Queue lines on the bridge's stdin without waiting (drain() applies back-pressure)."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        data = b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in messages)
        self._proc.stdin.write(data)

    async def drain(self) -> None:
        """Wait until the queued lines have been handed to the pipe."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        try:
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise BridgeError(f"bridge closed its stdin: {self.stderr_tail()}") from exc

    async def request(self, message: dict[str, Any], timeout: float) -> Reply:
        """Send one request and wait for its response."""
        future = self.expect(message["id"])
        self.write([message])
        await self.drain()
        return await self.wait(future, timeout)

    async def wait(self, future: asyncio.Future[Reply], timeout: float) -> Reply:
        """Wait for a response, turning a timeout into BridgeError."""
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError as exc:
            raise BridgeError(f"no response within {timeout:.0f} s") from exc

    async def initialize(self, timeout: float = 60) -> Reply:
        """Initialize and send notifications/initialized; returns the initialize reply."""
        reply = await self.request(initialize_request(self.next_id()), timeout)
        if "result" not in reply.message:
            raise BridgeError(f"initialize failed: {str(reply.message)[:300]}")
        self.write([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
        await self.drain()
        return reply

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> Reply:
        """One tools/call round trip."""
        return await self.request(tool_call(self.next_id(), name, arguments), timeout)

    def memory(self) -> procs.MemoryReading | None:
        """Memory of the real bridge process (the launcher's leaf child)."""
        return procs.bridge_memory(self.pid)

    def _read_stdout(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        """Thread: read the bridge's stdout, split lines, stamp them, hand them to the loop."""
        buf = bytearray()
        scan_from = 0
        try:
            while data := os.read(fd, READ_CHUNK):
                buf += data
                lines: list[tuple[bytearray, float]] = []
                while (end := buf.find(b"\n", scan_from)) != -1:
                    at = time.perf_counter()
                    if end == len(buf) - 1:  # the usual case: the buffer is the line, no copy
                        line, buf = buf, bytearray()
                        del line[end:]
                    else:
                        with memoryview(buf) as view:
                            line = bytearray(view[:end])
                        del buf[: end + 1]
                    lines.append((line, at))
                    scan_from = 0
                scan_from = len(buf)
                if lines:
                    loop.call_soon_threadsafe(self._on_lines, lines)
        except OSError:
            pass  # a closed pipe ends the stream like end of file
        finally:
            os.close(fd)
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                loop.call_soon_threadsafe(self._on_eof)

    def _on_lines(self, lines: list[tuple[bytearray, float]]) -> None:
        for line, at in lines:
            if line and not line.isspace():  # strip() would copy a 64 MB line
                self._dispatch(line, at)

    def _on_eof(self) -> None:
        if not self._closed:  # after close() nobody waits, and stderr is gone
            self._eof_task = asyncio.ensure_future(self._fail_on_exit())

    async def _fail_on_exit(self) -> None:
        assert self._proc is not None
        code = await self._proc.wait()
        self.exit_code = code
        self._fail_all(BridgeError(f"bridge exited with code {code}: {self.stderr_tail()}"))

    def _dispatch(self, line: bytes | bytearray, at: float) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self._fail_all(BridgeError(f"non-JSON line on stdout: {line[:200]!r}"))
            return
        if not isinstance(message, dict):
            return
        if "method" in message:
            self._answer_server_request(message)
            return
        future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(Reply(at=at, message=message, size=len(line)))

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        if "id" not in message:
            return  # a notification: nothing to answer
        if message["method"] == "ping":
            self.write([{"jsonrpc": "2.0", "id": message["id"], "result": {}}])
        else:
            error = {"code": -32601, "message": "not supported by the benchmark driver"}
            self.write([{"jsonrpc": "2.0", "id": message["id"], "error": error}])

    def _fail_all(self, error: BridgeError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    def stderr_tail(self) -> str:
        """The last part of what the bridge wrote to stderr, on one line."""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        text = self._stderr.read().decode(errors="replace")
        return " | ".join(line for line in text.splitlines() if line.strip())[-STDERR_TAIL:]

    async def close(self, grace: float = 5.0) -> None:
        """Close stdin (the bridges' shutdown signal), then escalate until the process is gone."""
        proc = self._proc
        if proc is None or self._closed:
            return
        self._closed = True
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await proc.stdin.wait_closed()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 2)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        procs.kill_group(proc.pid)
        if self._eof_task is not None:
            self._eof_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._eof_task
        self._fail_all(BridgeError("session closed"))
        self._stderr.close()

    async def __aenter__(self) -> StdioSession:
        await self.spawn()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
