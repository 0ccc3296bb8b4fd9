from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from .helpers import (
    INITIALIZE,
    INITIALIZED,
    Sink,
    bridge_to,
    notification,
    request,
    result,
    running,
)
from .rawhttp import RawRequest, raw_server

pytestmark = pytest.mark.anyio

INIT_RESULT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "serverInfo": {"name": "s", "version": "1"},
}


class SessionServer:
    """A stateful upstream that can forget its sessions, like a restarted process."""

    def __init__(self) -> None:
        self.count = 0
        self.current: str | None = None
        self.seen: list[tuple[str, str | None, str | None]] = []
        self.release = anyio.Event()
        self.hold_calls = False
        self.held = anyio.Event()

    async def __call__(self, req: RawRequest) -> None:
        session = req.headers.get("mcp-session-id")
        if req.method == "DELETE":
            self.seen.append(("DELETE", session, None))
            await req.reply(405)
            return
        if req.method == "GET":
            await req.reply(405)
            return
        body = req.json()
        self.seen.append(
            (body.get("method", "response"), session, req.headers.get("mcp-protocol-version"))
        )
        if body.get("method") == "initialize":
            self.count += 1
            self.current = f"s{self.count}"
            payload = json.dumps(result(body["id"], INIT_RESULT)).encode()
            await req.reply(200, payload, mcp_session_id=self.current)
            return
        if session != self.current:
            await req.reply(404, b"no such session", "text/plain")
            return
        if "id" not in body:
            await req.reply(202)
            return
        if self.hold_calls:
            self.held.set()
            await self.release.wait()
        await req.reply(200, json.dumps(result(body["id"], {"session": session})).encode())


async def test_a_404_on_the_session_replays_the_handshake_once_and_retries_invisibly() -> None:
    upstream = SessionServer()
    sink = Sink()
    async with raw_server(upstream) as server, bridge_to(server.url, sink) as (bridge, transport):
        await bridge.dispatch(INITIALIZE)
        await bridge.dispatch(INITIALIZED)
        upstream.current = None  # the upstream forgot s1, as after a restart
        await bridge.dispatch(request(1))
        assert transport.session_id == "s2"
    init, answer = sink.messages
    assert init["result"]["protocolVersion"] == "2025-06-18"
    assert answer == result(1, {"session": "s2"})
    assert [m for m, _, _ in upstream.seen] == [
        "initialize",
        "notifications/initialized",
        "tools/call",
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]


async def test_concurrent_404s_re_initialize_only_once() -> None:
    upstream = SessionServer()
    sink = Sink()
    async with (
        raw_server(upstream) as server,
        bridge_to(server.url, sink) as (bridge, _),
        running(bridge) as source_send,
    ):
        await source_send.send(INITIALIZE)
        await source_send.send(INITIALIZED)
        await sink.wait_for(1)
        upstream.current = None
        for i in range(1, 21):
            await source_send.send(request(i))
        await sink.wait_for(21)
    answers = {m["id"]: m["result"]["session"] for m in sink.messages[1:]}
    assert answers == dict.fromkeys(range(1, 21), "s2")
    assert [m for m, _, _ in upstream.seen].count("initialize") == 2


async def test_headers_carry_session_version_and_extra_headers_and_bodies_stay_byte_exact() -> None:
    upstream = SessionServer()
    sink = Sink()
    odd_body = b'{ "params" : {"b":1,"a":2},"id":5 ,"method":"tools/call", "jsonrpc":"2.0" }'
    async with raw_server(upstream) as server:
        async with bridge_to(server.url, sink, headers={"X-Api-Key": "k-123"}) as (bridge, _):
            await bridge.dispatch(INITIALIZE)
            await bridge.dispatch(odd_body)
        init_req, call_req = server.requests[0], server.requests[1]
    assert init_req.headers["accept"] == "application/json, text/event-stream"
    assert init_req.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in init_req.headers
    assert "mcp-protocol-version" not in init_req.headers
    assert call_req.headers["mcp-session-id"] == "s1"
    assert call_req.headers["mcp-protocol-version"] == "2025-06-18"
    assert call_req.headers["x-api-key"] == "k-123"
    assert call_req.body == odd_body
    assert init_req.body == INITIALIZE


async def test_a_configured_protocol_version_wins_over_the_negotiated_one() -> None:
    upstream = SessionServer()
    async with (
        raw_server(upstream) as server,
        bridge_to(server.url, Sink(), protocol_version="2025-03-26") as (bridge, _),
    ):
        await bridge.dispatch(INITIALIZE)
        await bridge.dispatch(request(1))
    assert upstream.seen[1][2] == "2025-03-26"


async def test_2026_envelope_requests_carry_method_and_name_headers() -> None:
    async def handler(req: RawRequest) -> None:
        await req.reply(200, json.dumps(result(req.json()["id"])).encode())

    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    line = request(1, "tools/call", name="wetter-überblick", _meta=meta)
    async with raw_server(handler) as server, bridge_to(server.url, Sink()) as (bridge, _):
        await bridge.dispatch(line)
    headers = server.requests[0].headers
    assert headers["mcp-protocol-version"] == "2026-07-28"
    assert headers["mcp-method"] == "tools/call"
    assert headers["mcp-name"].startswith("=?base64?")


async def test_messages_sent_during_initialize_wait_for_it() -> None:
    release = anyio.Event()
    order: list[str] = []

    async def handler(req: RawRequest) -> None:
        body = req.json()
        order.append(body["method"])
        if body["method"] == "initialize":
            await release.wait()
        await req.reply(200, json.dumps(result(body["id"], INIT_RESULT)).encode())

    sink = Sink()
    async with (
        raw_server(handler) as server,
        bridge_to(server.url, sink) as (bridge, _),
        running(bridge) as source_send,
    ):
        await source_send.send(INITIALIZE)
        await source_send.send(request(1, "tools/list"))
        await server.wait_for(1)
        assert order == ["initialize"]
        release.set()
        await sink.wait_for(2)
    assert order == ["initialize", "tools/list"]


async def test_a_cancelled_request_aborts_its_http_exchange_and_forwards_the_cancellation() -> None:
    aborted = anyio.Event()
    cancelled_seen = anyio.Event()

    async def handler(req: RawRequest) -> None:
        body = req.json()
        if body.get("method") == "notifications/cancelled":
            cancelled_seen.set()
            await req.reply(202)
            return
        await req.start_sse()
        try:
            await req.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            aborted.set()

    sink = Sink()
    async with (
        raw_server(handler) as server,
        bridge_to(server.url, sink) as (bridge, _),
        running(bridge) as source_send,
    ):
        await source_send.send(request(7, "tools/call", name="slow"))
        await server.wait_for(1)
        await source_send.send(notification("notifications/cancelled", requestId=7))
        with anyio.fail_after(5):
            await aborted.wait()
            await cancelled_seen.wait()
    assert sink.messages == []


async def test_eof_gives_in_flight_requests_a_grace_period_then_answers_and_deletes_session() -> (
    None
):
    upstream = SessionServer()
    sink = Sink()

    async def lines() -> AsyncIterator[bytes]:
        yield INITIALIZE
        yield INITIALIZED
        upstream.hold_calls = True
        yield request(1)
        await upstream.held.wait()

    async with (
        raw_server(upstream) as server,
        bridge_to(server.url, sink, grace_s=0.1) as (bridge, _),
    ):
        await bridge.run(lines())
        upstream.release.set()
    assert sink.messages[-1]["id"] == 1
    assert sink.messages[-1]["error"]["data"]["reason"] == "the proxy is shutting down"
    assert upstream.seen[-1] == ("DELETE", "s1", None)


async def test_batches_are_forwarded_whole_and_answered_one_line_per_element() -> None:
    async def handler(req: RawRequest) -> None:
        answers = [result(m["id"], {"n": m["id"]}) for m in req.json()]
        await req.reply(200, json.dumps(answers, indent=2).encode())

    sink = Sink()
    batch = b'[{"jsonrpc":"2.0","id":1,"method":"a"}, {"jsonrpc":"2.0","id":2,"method":"b"}, 5]'
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(batch)
        forwarded = server.requests[0].json()
    invalid, first, second = sink.messages
    assert invalid["error"]["code"] == -32600
    assert [first["id"], second["id"]] == [1, 2]
    assert [m["id"] for m in forwarded] == [1, 2]


async def test_server_requests_on_a_post_stream_reach_the_client_and_its_answer_goes_back() -> None:
    answered = anyio.Event()
    client_answer: list[Any] = []

    async def handler(req: RawRequest) -> None:
        body = req.json()
        if "method" not in body:
            client_answer.append(body)
            answered.set()
            await req.reply(202)
            return
        await req.start_sse()
        await req.event(
            {"jsonrpc": "2.0", "id": "srv-1", "method": "sampling/createMessage", "params": {}}
        )
        await answered.wait()
        await req.event(result(body["id"], {"done": True}))

    sink = Sink()
    async with (
        raw_server(handler) as server,
        bridge_to(server.url, sink) as (bridge, _),
        running(bridge) as source_send,
    ):
        await source_send.send(request(1))
        [server_request] = await sink.wait_for(1)
        assert server_request["method"] == "sampling/createMessage"
        await source_send.send(json.dumps(result("srv-1", {"text": "hi"})).encode())
        await sink.wait_for(2)
    assert client_answer == [result("srv-1", {"text": "hi"})]
    assert sink.messages[1] == result(1, {"done": True})
