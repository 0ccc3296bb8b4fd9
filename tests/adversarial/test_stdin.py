"""Hostile stdin: every line is answered or forwarded, nothing crashes, memory stays bounded."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.stdio import StdioReader
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport
from tests.integration.helpers import INITIALIZE, INITIALIZED, Sink
from tests.integration.rawhttp import RawRequest, raw_server

from .conftest import as_stream, stdout_lines_are_jsonrpc

pytestmark = pytest.mark.anyio
URL = "https://mcp.test/mcp"


def echo(request: httpx.Request) -> httpx.Response:
    """Answer every request with its own method; notifications with 202."""
    body = request.content
    value = json.loads(body)
    items = value if isinstance(value, list) else [value]
    answers = [
        {
            "jsonrpc": "2.0",
            "id": item["id"],
            "result": {"method": item.get("method"), "size": len(body)},
        }
        for item in items
        if "id" in item and "method" in item
    ]
    if not answers:
        return httpx.Response(202)
    return httpx.Response(200, json=answers if isinstance(value, list) else answers[0])


def chunked(data: bytes, size: int = 65536) -> Callable[[int], bytes]:
    view = io.BytesIO(data)
    return lambda n: view.read(min(n, size))


def generated(parts: Iterator[bytes]) -> Callable[[int], bytes]:
    """A stdin that produces ``parts`` one read at a time (never all in memory)."""

    def read(n: int) -> bytes:
        return next(parts, b"")

    return read


class HeldOpen:
    """A stdin whose end of file comes only once ``expect`` answers were written.

    A real client keeps stdin open while it waits for its answers; ending the
    input early is tested on its own.
    """

    def __init__(self, read: Callable[[int], bytes], expect: int) -> None:
        self.read_inner = read
        self.expect = expect
        self.answered = threading.Event()

    def read(self, n: int) -> bytes:
        chunk = self.read_inner(n)
        if not chunk:
            self.answered.wait(30)
        return chunk

    def saw(self, count: int) -> None:
        if count >= self.expect:
            self.answered.set()


async def run_stdin(
    read: Callable[[int], bytes],
    *,
    expect: int,
    handler: Callable[[httpx.Request], httpx.Response] = echo,
    **reader: Any,
) -> tuple[list[dict[str, Any]], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return as_stream(handler(request))

    sink = Sink()
    held = HeldOpen(read, expect)
    original = sink.send

    async def send(line: bytes) -> None:
        await original(line)
        held.saw(len(sink.raw))

    sink.send = send  # type: ignore[method-assign]
    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        bridge = Bridge(
            StreamableHttpTransport(client, URL), sink, open_server_stream=False, grace_s=1
        )
        with anyio.fail_after(60):
            await bridge.run(StdioReader(read=held.read, **reader))
    return stdout_lines_are_jsonrpc(sink.raw), seen


def lines(*items: bytes) -> bytes:
    return b"\n".join(items) + b"\n"


def call(msg_id: Any, method: str = "tools/call", **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()


HANDSHAKE = (INITIALIZE, INITIALIZED)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe{}", "invalid UTF-8"),
        (b'{"jsonrpc":"2.0","id":1,"method":"x\x00"}', "invalid JSON"),
        (b"\x00\x00\x00", "invalid JSON"),
        (b"[" * 100_000, "invalid JSON"),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"a"}{"jsonrpc":"2.0","id":2,"method":"b"}',
            "invalid JSON",
        ),
        (b"\xed\xa0\x80", "invalid UTF-8"),  # an encoded surrogate
    ],
    ids=["truncated", "bad-utf8", "raw-nul", "nuls", "deep", "two-objects", "surrogate"],
)
async def test_unparsable_lines_get_a_parse_error_and_the_next_line_still_passes(
    line: bytes, reason: str
) -> None:
    answers, seen = await run_stdin(chunked(lines(*HANDSHAKE, line, call(7))), expect=3)
    parse_errors = [a for a in answers if a.get("error", {}).get("code") == -32700]
    assert len(parse_errors) == 1
    assert parse_errors[0]["id"] is None
    assert reason in parse_errors[0]["error"]["data"]["reason"]
    assert any(a.get("id") == 7 and "result" in a for a in answers)
    assert all(line not in r.content for r in seen)


@pytest.mark.parametrize(
    "value",
    [
        b"42",
        b'"text"',
        b"null",
        b"[]",
        b'{"id":3,"method":"x"}',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"x"}',
        b'{"jsonrpc":"2.0","id":1.5,"method":"x"}',
        b'{"jsonrpc":"2.0","id":true,"method":"x"}',
        b'{"jsonrpc":"2.0","id":4,"method":7}',
    ],
)
async def test_json_that_is_not_json_rpc_gets_invalid_request_and_is_not_forwarded(
    value: bytes,
) -> None:
    answers, seen = await run_stdin(chunked(lines(*HANDSHAKE, value, call(7))), expect=3)
    invalid = [a for a in answers if a.get("error", {}).get("code") == -32600]
    assert len(invalid) == 1
    assert all(value not in r.content for r in seen)
    assert any(a.get("id") == 7 for a in answers)


async def test_a_nul_escaped_inside_a_string_is_valid_json_and_forwarded_byte_for_byte() -> None:
    line = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"s":"a\\u0000b"}}'
    answers, seen = await run_stdin(chunked(lines(*HANDSHAKE, line)), expect=2)
    assert any(r.content == line for r in seen)
    assert any(a.get("id") == 1 for a in answers)


async def test_crlf_line_endings_and_blank_lines_are_accepted() -> None:
    data = INITIALIZE + b"\r\n\r\n   \r\n" + INITIALIZED + b"\r\n" + call(1) + b"\r\n"
    answers, seen = await run_stdin(chunked(data, 7), expect=2)
    assert [a["id"] for a in answers] == [0, 1]
    assert all(not r.content.endswith(b"\r") for r in seen)


async def test_a_batch_with_invalid_elements_answers_them_and_forwards_the_rest() -> None:
    batch = (
        b'[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","id":2}, [],'
        b' {"jsonrpc":"2.0","method":"n"}]'
    )
    answers, seen = await run_stdin(chunked(lines(*HANDSHAKE, batch, b"[[[]]]")), expect=6)
    by_id = {}
    for a in answers:
        by_id.setdefault(a.get("id"), []).append(a)
    assert by_id[1][0]["result"]["method"] == "a"
    assert sum(a.get("error", {}).get("code") == -32600 for a in answers) >= 4
    [forwarded] = [json.loads(r.content) for r in seen if r.content.startswith(b"[")]
    assert [item.get("method") for item in forwarded] == ["a", "n"]


async def test_unknown_methods_are_forwarded_not_judged() -> None:
    answers, seen = await run_stdin(
        chunked(lines(*HANDSHAKE, call(1, "x-vendor/frobnicate"))), expect=2
    )
    assert any(json.loads(r.content)["method"] == "x-vendor/frobnicate" for r in seen)
    assert any(a.get("id") == 1 for a in answers)


async def test_duplicate_ids_each_get_their_own_answer() -> None:
    answers, _ = await run_stdin(
        chunked(lines(*HANDSHAKE, call(1, "a"), call(1, "b"), call("1", "c"))), expect=4
    )
    assert sum(a.get("id") in (1, "1") for a in answers) == 3


async def test_a_200_mb_line_is_refused_in_bounded_memory_and_a_5_mb_message_passes() -> None:
    cap = 8 * 1024 * 1024
    legit = call(2, "tools/call", blob="B" * (5 * 1024 * 1024))
    huge_head = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"blob":"'

    def parts() -> Iterator[bytes]:
        yield lines(*HANDSHAKE)
        yield huge_head
        chunk = b"A" * 65536
        for _ in range(200 * 16):  # 200 MiB, never a newline
            yield chunk
        yield b'"}}\n'
        yield legit + b"\n"

    import tracemalloc

    tracemalloc.start()
    try:
        answers, seen = await run_stdin(generated(parts()), expect=3, max_line_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    by_id = {a.get("id"): a for a in answers}
    assert by_id[1]["error"]["code"] == -32700 or by_id[1]["error"]["code"] == -32600
    assert "maxLineBytes" in by_id[1]["error"]["message"] + json.dumps(
        by_id[1]["error"].get("data")
    )
    assert by_id[2]["result"]["size"] == len(legit)
    assert all(len(r.content) < cap for r in seen)
    assert peak < 4 * cap


async def test_an_oversized_line_without_an_id_gets_a_null_id_error_and_input_continues() -> None:
    cap = 1024 * 1024
    huge = b'{"params":{"x":"' + b"A" * (2 * cap) + b'"},"jsonrpc":"2.0","method":"n"}'
    answers, _ = await run_stdin(
        chunked(lines(*HANDSHAKE, huge, call(3))), expect=3, max_line_bytes=cap
    )
    assert any(a.get("id") is None and "error" in a for a in answers)
    assert any(a.get("id") == 3 and "result" in a for a in answers)


async def test_a_last_line_without_newline_is_forwarded_and_answered() -> None:
    answers, _ = await run_stdin(chunked(lines(*HANDSHAKE) + call(4)), expect=0)
    assert any(a.get("id") == 4 and "result" in a for a in answers)


async def test_requests_sent_while_the_login_is_pending_are_answered_after_it() -> None:
    login_done = anyio.Event()
    order: list[str] = []

    class SlowLogin(httpx.Auth):
        async def async_auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def,override]
            await login_done.wait()
            request.headers["Authorization"] = "Bearer t"
            order.append("sent")
            yield request

    async def handler(req: RawRequest) -> None:
        message = req.json()
        if "id" not in message:
            await req.reply(202)
            return
        body = {
            "jsonrpc": "2.0",
            "id": message["id"],
            "result": {"auth": req.headers.get("authorization")},
        }
        await req.reply(200, json.dumps(body).encode())

    sink = Sink()
    async with raw_server(handler) as server, httpx.AsyncClient(auth=SlowLogin()) as client:
        bridge = Bridge(StreamableHttpTransport(client, server.url), sink, open_server_stream=False)
        send, receive = anyio.create_memory_object_stream[bytes](100)
        async with receive, anyio.create_task_group() as tg:
            tg.start_soon(bridge.run, receive)
            async with send:
                for line in (*HANDSHAKE, call(1), call(2), call(3)):
                    await send.send(line)
                assert sink.raw == []
                login_done.set()
                await sink.wait_for(4)
    answers = stdout_lines_are_jsonrpc(sink.raw)
    assert sorted(a["id"] for a in answers) == [0, 1, 2, 3]
    assert all(a["result"]["auth"] == "Bearer t" for a in answers)


@pytest.mark.parametrize("count", [1, 5])
async def test_requests_right_before_eof_get_the_grace_period_not_an_instant_error(
    count: int,
) -> None:
    async def stdin() -> AsyncIterator[bytes]:
        for line in (*HANDSHAKE, *(call(i) for i in range(1, count + 1))):
            yield line  # EOF follows at once, before any forwarding task could start

    sink = Sink()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: as_stream(echo(r)))
    ) as client:
        bridge = Bridge(StreamableHttpTransport(client, URL), sink, open_server_stream=False)
        await bridge.run(stdin())
    answers = stdout_lines_are_jsonrpc(sink.raw)
    results = {a["id"]: a for a in answers if a.get("id") != 0}
    assert sorted(results) == list(range(1, count + 1))
    assert all("result" in a for a in results.values()), results


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
async def test_the_real_cli_skips_a_200_mb_line_in_bounded_memory_and_passes_5_mb() -> None:
    async def handler(req: RawRequest) -> None:
        message = req.json()
        if "id" not in message:
            await req.reply(202)
            return
        body = {"jsonrpc": "2.0", "id": message["id"], "result": {"size": len(req.body)}}
        await req.reply(200, json.dumps(body).encode())

    legit = call(2, "tools/call", blob="B" * (5 * 1024 * 1024))
    command = [sys.executable, "-m", "mcp_oauth2_proxy", "--grant", "none", "--no-server-stream"]
    env = {**os.environ, "LOG_LEVEL": "warn", "MAX_LINE_BYTES": str(16 * 1024 * 1024)}
    async with (
        raw_server(handler) as server,
        await anyio.open_process([*command, server.url], env=env) as proc,
    ):
        assert proc.stdin is not None
        assert proc.stdout is not None

        async def feed() -> None:
            assert proc.stdin is not None
            await proc.stdin.send(lines(*HANDSHAKE))
            await proc.stdin.send(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"')
            chunk = b"A" * (1 << 20)
            for _ in range(200):
                await proc.stdin.send(chunk)
            await proc.stdin.send(b'"}}\n' + legit + b"\n")

        out = b""
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(feed)
                while out.count(b"\n") < 3:
                    out += await proc.stdout.receive()
            peak_kib = _peak_rss_kib(proc.pid)
            await proc.stdin.aclose()
            assert await proc.wait() == 0
    answers = {a.get("id"): a for a in stdout_lines_are_jsonrpc(out.splitlines())}
    assert "maxLineBytes" in answers[1]["error"]["data"]["reason"]
    assert answers[2]["result"]["size"] == len(legit)
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
