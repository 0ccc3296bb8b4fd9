from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport

from .helpers import INITIALIZE, Sink, bridge_to, notification, result, running
from .rawhttp import RawRequest, raw_server

pytestmark = pytest.mark.anyio

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}


def modern(msg_id: int, method: str, **params: Any) -> bytes:
    body = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": {**params, "_meta": META}}
    return json.dumps(body).encode()


async def _answer_everything(req: RawRequest) -> None:
    body = req.json()
    await req.reply(200, json.dumps(result(body.get("id"))).encode(), Mcp_Session_Id="s-1")


async def test_a_modern_request_carries_its_version_and_routing_headers_and_no_session() -> None:
    sink = Sink()
    async with (
        raw_server(_answer_everything) as server,
        bridge_to(server.url, sink, protocol_version="2025-06-18") as (bridge, _),
    ):
        await bridge.dispatch(INITIALIZE)
        await bridge.dispatch(modern(1, "tools/call", name="météo", arguments={}))
        await bridge.dispatch(modern(2, "resources/read", uri="file:///a b"))
        await bridge.dispatch(modern(3, "tools/list"))
    call, read, listing = (r.headers for r in server.requests[1:])
    assert call["mcp-protocol-version"] == "2026-07-28"
    assert call["mcp-method"] == "tools/call"
    assert call["mcp-name"] == "=?base64?" + base64.b64encode("météo".encode()).decode() + "?="
    assert read["mcp-name"] == "file:///a b"
    assert listing["mcp-method"] == "tools/list"
    assert "mcp-name" not in listing
    assert not any("mcp-session-id" in h for h in (call, read, listing))


async def test_cancelling_a_modern_request_closes_its_stream_and_posts_no_notification() -> None:
    closed = anyio.Event()

    async def handler(req: RawRequest) -> None:
        await req.start_sse()
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await req.stream.receive()
        closed.set()

    sink = Sink()
    async with (
        raw_server(handler) as server,
        bridge_to(server.url, sink) as (bridge, _),
        running(bridge) as source,
    ):
        await source.send(modern(7, "tools/call", name="slow"))
        await server.wait_for(1)
        await source.send(notification("notifications/cancelled", requestId=7))
        with anyio.fail_after(5):
            await closed.wait()
    assert [r.json()["method"] for r in server.requests] == ["tools/call"]
    assert sink.messages == []


async def test_a_modern_servers_error_with_http_400_reaches_the_client_verbatim() -> None:
    error = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": ["2026-07-28"], "requested": "2026-07-28"},
        },
    }

    async def handler(req: RawRequest) -> None:
        await req.reply(400, json.dumps(error).encode())

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(modern(1, "server/discover"))
    assert sink.messages == [error]


async def test_a_legacy_servers_400_to_a_modern_request_is_an_http_error_so_clients_fall_back() -> (
    None
):
    async def handler(req: RawRequest) -> None:
        await req.reply(400, b"Bad Request: Missing session ID", "text/plain")

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(modern(1, "server/discover"))
    (answer,) = sink.messages
    assert answer["error"]["code"] == -32001
    assert answer["error"]["data"] == {"status": 400, "body": "Bad Request: Missing session ID"}


async def test_no_get_stream_is_opened_for_the_2026_07_28_revision() -> None:
    async with raw_server(_answer_everything) as server, httpx.AsyncClient() as client:
        transport = StreamableHttpTransport(client, server.url, protocol_version="2026-07-28")
        with anyio.fail_after(5):
            await transport.listen(Sink().send)
    assert server.requests == []


async def test_tools_with_invalid_x_mcp_header_are_hidden_from_a_modern_client() -> None:
    bad = {
        "name": "bad",
        "inputSchema": {"properties": {"r": {"type": "number", "x-mcp-header": "R"}}},
    }
    good = {
        "name": "good",
        "inputSchema": {"properties": {"r": {"type": "string", "x-mcp-header": "R"}}},
    }

    async def handler(req: RawRequest) -> None:
        body = req.json()
        value = {"tools": [bad, good]} if body["method"] == "tools/list" else {}
        await req.reply(200, json.dumps(result(body["id"], value)).encode())

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(modern(1, "tools/list"))
        await bridge.dispatch(modern(2, "tools/call", name="good", arguments={"r": "eu"}))
    assert [t["name"] for t in sink.messages[0]["result"]["tools"]] == ["good"]
    assert server.requests[1].headers["mcp-param-r"] == "eu"
