from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.errors import AuthError
from mcp_oauth2_proxy.transport import Transport
from mcp_oauth2_proxy.transport.auto import build_transport

from .helpers import INITIALIZE, INITIALIZED, Sink, request, result, running
from .rawhttp import RawRequest, raw_server

pytestmark = pytest.mark.anyio


class LegacyServer:
    """A scripted HTTP+SSE server: GET opens the event stream, POSTs are answered on it."""

    def __init__(self, *, endpoint: str = "/messages?session_id={n}", post_to_mcp: int = 405):
        self.endpoint = endpoint
        self.post_to_mcp = post_to_mcp
        self.streams: list[RawRequest] = []
        self.posts: list[RawRequest] = []
        self.on_post: Callable[[RawRequest], Awaitable[None]] = self.answer
        self._stream_opened = anyio.Event()

    @property
    def stream(self) -> RawRequest:
        return self.streams[-1]

    async def handler(self, req: RawRequest) -> None:
        if req.method == "GET":
            self.streams.append(req)
            await req.start_sse()
            endpoint = self.endpoint.format(n=len(self.streams))
            await req.stream.send(f"event: endpoint\ndata: {endpoint}\n\n".encode())
            self._stream_opened.set()
            await anyio.sleep_forever()
        elif req.path.startswith("/messages"):
            self.posts.append(req)
            await self.on_post(req)
        else:
            await req.reply(self.post_to_mcp, b"", "text/plain")

    async def answer(self, req: RawRequest) -> None:
        await req.reply(202, b"Accepted", "text/plain")
        body = req.json()
        if "id" in body and "method" in body:
            await self.stream.event(result(body["id"], {"echo": body["method"]}))

    async def cut_stream(self) -> None:
        self._stream_opened = anyio.Event()
        await self.stream.stream.aclose()

    async def wait_for_stream(self, count: int) -> None:
        with anyio.fail_after(10):
            while len(self.streams) < count:
                await self._stream_opened.wait()


@asynccontextmanager
async def legacy_bridge(
    server: LegacyServer, kind: str = "sse", auth: httpx.Auth | None = None
) -> AsyncIterator[tuple[Sink, Any, Transport]]:
    sink = Sink()
    async with (
        raw_server(server.handler) as raw,
        httpx.AsyncClient(timeout=5, auth=auth) as client,
        anyio.create_task_group() as tg,
    ):
        transport = build_transport(kind, client, raw.url, task_group=tg, server_sink=sink.send)
        bridge = Bridge(transport, sink, grace_s=0.2)
        async with running(bridge) as source:
            yield sink, source, transport
        tg.cancel_scope.cancel()


async def test_answers_come_from_the_event_stream_in_order_not_from_the_post_body() -> None:
    server = LegacyServer()

    async def chatty(req: RawRequest) -> None:
        await req.reply(200, b'{"jsonrpc":"2.0","id":1,"result":"not the answer"}')
        note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": 1}}
        await server.stream.event(note)
        await server.stream.event(result(req.json()["id"], {"real": True}))

    server.on_post = chatty
    async with legacy_bridge(server) as (sink, source, _):
        await source.send(request(1))
        messages = await sink.wait_for(2)
    assert messages[0]["method"] == "notifications/message"
    assert messages[1] == result(1, {"real": True})
    assert server.posts[0].path == "/messages?session_id=1"
    assert server.posts[0].body == request(1)


async def test_an_endpoint_on_another_origin_is_refused_and_nothing_is_posted() -> None:
    server = LegacyServer(endpoint="http://attacker.invalid/messages")
    async with legacy_bridge(server) as (sink, source, _):
        await source.send(request(1))
        (answer,) = await sink.wait_for(1)
    assert answer["id"] == 1
    assert answer["error"]["code"] == -32000
    assert "another origin (http://attacker.invalid)" in answer["error"]["message"]
    assert server.posts == []


async def test_requests_pending_when_the_stream_is_lost_are_answered_with_32000() -> None:
    server = LegacyServer()
    both_posted = anyio.Event()

    async def silent(req: RawRequest) -> None:
        await req.reply(202, b"Accepted", "text/plain")
        if len(server.posts) == 2:
            both_posted.set()

    server.on_post = silent
    async with legacy_bridge(server) as (sink, source, _):
        await source.send(request(1))
        await source.send(request(2))
        with anyio.fail_after(5):
            await both_posted.wait()
        await server.cut_stream()
        answers = await sink.wait_for(2)
    assert sorted(a["id"] for a in answers) == [1, 2]
    for answer in answers:
        assert answer["error"]["code"] == -32000
        assert "legacy SSE stream was lost before the response" in answer["error"]["message"]


async def test_a_reopened_stream_replays_the_handshake_before_the_next_request() -> None:
    server = LegacyServer()
    async with legacy_bridge(server) as (sink, source, _):
        await source.send(INITIALIZE)
        await source.send(INITIALIZED)
        await sink.wait_for(1)
        await server.cut_stream()
        await server.wait_for_stream(2)
        await source.send(request(5))
        messages = await sink.wait_for(2)
    assert messages[-1] == result(5, {"echo": "tools/call"})
    second_session = [(p.path, p.json().get("method")) for p in server.posts[2:]]
    assert second_session == [
        ("/messages?session_id=2", "initialize"),
        ("/messages?session_id=2", "notifications/initialized"),
        ("/messages?session_id=2", "tools/call"),
    ]


@pytest.mark.parametrize("status", [400, 404, 405])
async def test_auto_falls_back_to_sse_and_replays_initialize_there(status: int) -> None:
    server = LegacyServer(post_to_mcp=status)
    async with legacy_bridge(server, "auto") as (sink, source, _):
        await source.send(INITIALIZE)
        await source.send(INITIALIZED)
        await source.send(request(1))
        messages = await sink.wait_for(2)
    assert messages == [result(0, {"echo": "initialize"}), result(1, {"echo": "tools/call"})]
    assert [p.json().get("method") for p in server.posts] == [
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]


async def test_auto_does_not_fall_back_when_the_400_is_a_modern_protocol_error() -> None:
    modern = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32022, "message": "unsupported"}}

    async def handler(req: RawRequest) -> None:
        await req.reply(400, json.dumps(modern).encode())

    sink = Sink()
    async with (
        raw_server(handler) as raw,
        httpx.AsyncClient(timeout=5) as client,
        anyio.create_task_group() as tg,
    ):
        transport = build_transport("auto", client, raw.url, task_group=tg, server_sink=sink.send)
        await Bridge(transport, sink).dispatch(INITIALIZE)
        tg.cancel_scope.cancel()
    (answer,) = sink.messages
    assert answer["error"]["code"] == -32001
    assert answer["error"]["data"]["status"] == 400
    assert [r.method for r in raw.requests] == ["POST"]


async def test_auto_reports_both_failures_when_the_sse_fallback_fails_too() -> None:
    server = LegacyServer(endpoint="http://attacker.invalid/messages", post_to_mcp=404)
    async with legacy_bridge(server, "auto") as (sink, source, _):
        await source.send(INITIALIZE)
        (answer,) = await sink.wait_for(1)
    reason = answer["error"]["data"]["reason"]
    assert answer["error"]["code"] == -32000
    assert "initialize with HTTP 404" in reason
    assert "another origin" in reason


class RenewingAuth(httpx.Auth):
    """A bearer token that is renewed once when the server answers 401 (like the OAuth client)."""

    def __init__(self) -> None:
        self.token = "stale"

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = "fresh"
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


async def test_a_401_on_the_stream_renews_the_token_and_every_post_carries_it() -> None:
    server = LegacyServer()
    open_stream = server.handler

    async def guarded(req: RawRequest) -> None:
        if req.headers.get("authorization") != "Bearer fresh":
            await req.reply(401, b"", "text/plain", WWW_Authenticate="Bearer")
            return
        await open_stream(req)

    server.handler = guarded  # type: ignore[method-assign]
    async with legacy_bridge(server, auth=RenewingAuth()) as (sink, source, _):
        await source.send(request(1))
        (answer,) = await sink.wait_for(1)
    assert answer == result(1, {"echo": "tools/call"})
    assert [p.headers["authorization"] for p in server.posts] == ["Bearer fresh"]


async def test_an_authorization_failure_on_the_stream_answers_the_request_with_its_reason() -> None:
    class FailingAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            raise AuthError("login required: run mcp-oauth2-proxy login")
            yield request

    async with legacy_bridge(LegacyServer(), auth=FailingAuth()) as (sink, source, _):
        await source.send(request(1))
        (answer,) = await sink.wait_for(1)
    assert answer["error"]["code"] == -32000
    assert "login required" in answer["error"]["message"]
