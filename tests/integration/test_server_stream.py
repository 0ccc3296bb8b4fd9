from __future__ import annotations

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport

from .helpers import Sink
from .rawhttp import RawRequest, raw_server

pytestmark = pytest.mark.anyio


class RecordingSleep:
    """Records requested delays instead of waiting; stops the loop after ``limit`` calls."""

    def __init__(self, limit: int) -> None:
        self.delays: list[float] = []
        self.limit = limit
        self.done = anyio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self.limit:
            self.done.set()
            await anyio.sleep_forever()


async def _listen(url: str, sleep: RecordingSleep, sink: Sink, random: float = 1.0) -> None:
    async with httpx.AsyncClient() as client:
        transport = StreamableHttpTransport(client, url, sleep=sleep, random=lambda: random)
        async with anyio.create_task_group() as tg:
            tg.start_soon(transport.listen, sink.send)
            with anyio.fail_after(10):
                await sleep.done.wait()
            tg.cancel_scope.cancel()


async def test_a_405_on_get_means_no_server_stream_and_no_retries() -> None:
    async def handler(req: RawRequest) -> None:
        await req.reply(405)

    async with raw_server(handler) as server, httpx.AsyncClient() as client:
        transport = StreamableHttpTransport(client, server.url, sleep=RecordingSleep(1))
        with anyio.fail_after(5):
            await transport.listen(Sink().send)
        assert len(server.requests) == 1


async def test_the_server_stream_honours_retry_and_resumes_with_last_event_id() -> None:
    async def handler(req: RawRequest) -> None:
        assert req.headers["accept"] == "text/event-stream"
        await req.start_sse()
        n = len(server.requests)
        await req.event(
            {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": n}},
            f"e{n}",
            retry=1234,
        )

    sink = Sink()
    sleep = RecordingSleep(3)
    async with raw_server(handler) as server:
        await _listen(server.url, sleep, sink)
    assert sleep.delays == [1.234, 1.234, 1.234]
    assert [r.headers.get("last-event-id") for r in server.requests] == [None, "e1", "e2"]
    assert [m["params"]["n"] for m in sink.messages] == [1, 2, 3]


async def test_a_failing_server_stream_backs_off_exponentially_up_to_30_seconds() -> None:
    async def handler(req: RawRequest) -> None:
        await req.reply(503, b"busy", "text/plain")

    sleep = RecordingSleep(9)
    async with raw_server(handler) as server:
        await _listen(server.url, sleep, Sink(), random=1.0)
    assert sleep.delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


async def test_backoff_delays_are_jittered_down_to_half() -> None:
    async def handler(req: RawRequest) -> None:
        await req.reply(500)

    sleep = RecordingSleep(3)
    async with raw_server(handler) as server:
        await _listen(server.url, sleep, Sink(), random=0.0)
    assert sleep.delays == [0.25, 0.5, 1.0]


async def test_a_reconnect_after_a_good_connection_starts_the_backoff_again() -> None:
    async def handler(req: RawRequest) -> None:
        if len(server.requests) == 3:
            await req.start_sse()
            await req.stream.send(b": keep-alive\n\n")
        else:
            await req.reply(500)

    sleep = RecordingSleep(4)
    async with raw_server(handler) as server:
        await _listen(server.url, sleep, Sink(), random=1.0)
    assert sleep.delays == [0.5, 1, 0.5, 1]
