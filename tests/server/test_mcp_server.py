from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.server import FakeClock, McpHttpApp, McpServer

from .flows import MCP_HEADERS, initialize_message, rpc, sse_messages

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(clock: FakeClock) -> McpServer:
    return McpServer(clock=clock)


@pytest.fixture
async def http(server: McpServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=McpHttpApp(server))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9001") as client:
        yield client


async def open_session(http: httpx.AsyncClient, version: str = "2025-11-25") -> dict[str, str]:
    response = await http.post("/mcp", json=initialize_message(version), headers=MCP_HEADERS)
    assert response.status_code == 200
    headers = {
        **MCP_HEADERS,
        "Mcp-Session-Id": response.headers["mcp-session-id"],
        "MCP-Protocol-Version": response.json()["result"]["protocolVersion"],
    }
    note = await http.post("/mcp", json=rpc("notifications/initialized", None), headers=headers)
    assert note.status_code == 202
    return headers


async def call(http: httpx.AsyncClient, headers: dict[str, str], message: dict[str, Any]) -> Any:
    response = await http.post("/mcp", json=message, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


@pytest.mark.parametrize(
    ("asked", "agreed"),
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
    ],
)
async def test_initialize_negotiates_the_revision_and_issues_a_session_id(
    http: httpx.AsyncClient, server: McpServer, asked: str, agreed: str
) -> None:
    response = await http.post("/mcp", json=initialize_message(asked), headers=MCP_HEADERS)
    body = response.json()
    assert body["id"] == 0
    assert body["result"]["protocolVersion"] == agreed
    assert set(body["result"]["capabilities"]) == {"tools", "resources", "prompts"}
    assert body["result"]["serverInfo"]["name"] == "mcp-oauth2-proxy-demo"
    assert response.headers["mcp-session-id"] in server.sessions


async def test_ping_and_the_initialized_notification(
    http: httpx.AsyncClient, server: McpServer
) -> None:
    headers = await open_session(http)
    assert server.sessions[headers["Mcp-Session-Id"]].initialized
    assert await call(http, headers, rpc("ping", 7)) == {"jsonrpc": "2.0", "id": 7, "result": {}}


async def test_tools_are_listed_with_output_schemas_only_where_the_revision_has_them(
    http: httpx.AsyncClient,
) -> None:
    new = await call(http, await open_session(http), rpc("tools/list"))
    names = [t["name"] for t in new["result"]["tools"]]
    assert names == ["echo", "add", "get_time", "slow_count", "whoami"]
    add = next(t for t in new["result"]["tools"] if t["name"] == "add")
    assert add["outputSchema"]["required"] == ["sum"]
    old = await call(http, await open_session(http, "2025-03-26"), rpc("tools/list"))
    assert all("outputSchema" not in t for t in old["result"]["tools"])


async def test_tools_answer_with_text_and_structured_content(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    echo = await call(http, headers, rpc("tools/call", 2, name="echo", arguments={"text": "hé"}))
    assert echo["result"] == {"content": [{"type": "text", "text": "hé"}], "isError": False}
    add = await call(http, headers, rpc("tools/call", 3, name="add", arguments={"a": 2, "b": 40}))
    assert add["result"]["content"][0]["text"] == "42"
    assert add["result"]["structuredContent"] == {"sum": 42}
    now = await call(http, headers, rpc("tools/call", 4, name="get_time"))
    assert now["result"]["structuredContent"]["unix"] == 1_750_000_000.0
    assert now["result"]["content"][0]["text"].startswith("2025-06-15T")
    anon = await call(http, headers, rpc("tools/call", 5, name="whoami"))
    assert anon["result"]["content"][0]["text"].startswith("anonymous")


async def test_bad_tool_arguments_are_a_tool_error_and_unknown_tools_a_protocol_error(
    http: httpx.AsyncClient,
) -> None:
    headers = await open_session(http)
    bad = await call(http, headers, rpc("tools/call", 2, name="add", arguments={"a": "x", "b": 1}))
    assert bad["result"]["isError"] is True
    assert "a must be a number" in bad["result"]["content"][0]["text"]
    unknown = await call(http, headers, rpc("tools/call", 3, name="nope"))
    assert unknown["error"]["code"] == -32602


async def test_unknown_methods_get_method_not_found(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    answer = await call(http, headers, rpc("sampling/whatever", 9))
    assert answer["id"] == 9
    assert answer["error"]["code"] == -32601


async def test_the_resource_can_be_listed_and_read(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    listed = await call(http, headers, rpc("resources/list"))
    (resource,) = listed["result"]["resources"]
    assert resource["uri"] == "demo://readme"
    read = await call(http, headers, rpc("resources/read", 2, uri="demo://readme"))
    assert read["result"]["contents"][0]["text"].startswith("# mcp-oauth2-proxy demo server")
    missing = await call(http, headers, rpc("resources/read", 3, uri="demo://nope"))
    assert missing["error"]["code"] == -32002


async def test_the_prompt_can_be_listed_and_rendered(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    listed = await call(http, headers, rpc("prompts/list"))
    assert listed["result"]["prompts"][0]["name"] == "summarize"
    got = await call(
        http, headers, rpc("prompts/get", 2, name="summarize", arguments={"text": "MCP is neat."})
    )
    message = got["result"]["messages"][0]
    assert message["role"] == "user"
    assert message["content"]["text"].endswith("MCP is neat.")
    missing = await call(http, headers, rpc("prompts/get", 3, name="summarize"))
    assert missing["error"]["code"] == -32602


async def test_slow_count_streams_progress_notifications_before_its_result(
    http: httpx.AsyncClient,
) -> None:
    headers = await open_session(http)
    message = rpc(
        "tools/call",
        5,
        name="slow_count",
        arguments={"count": 3, "interval_ms": 0},
        _meta={"progressToken": "p1"},
    )
    response = await http.post("/mcp", json=message, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_messages(response.text)
    progress = [e["params"] for e in events[:-1]]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert all(p["progressToken"] == "p1" and p["total"] == 3 for p in progress)
    assert events[-1]["id"] == 5
    assert events[-1]["result"]["content"][0]["text"] == "Counted to 3."


async def test_a_cancelled_slow_count_ends_its_stream_without_a_response(
    http: httpx.AsyncClient, server: McpServer
) -> None:
    headers = await open_session(http)
    message = rpc(
        "tools/call",
        6,
        name="slow_count",
        arguments={"count": 100, "interval_ms": 10_000},
        _meta={"progressToken": 1},
    )
    session = server.sessions[headers["Mcp-Session-Id"]]
    responses: list[httpx.Response] = []

    async def run() -> None:
        responses.append(await http.post("/mcp", json=message, headers=headers))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        assert 6 in session.inflight
        cancel = rpc("notifications/cancelled", None, requestId=6, reason="user")
        assert (await http.post("/mcp", json=cancel, headers=headers)).status_code == 202
    (response,) = responses
    assert sse_messages(response.text) == []
    assert session.inflight == {}


async def test_requests_need_a_known_session(http: httpx.AsyncClient, server: McpServer) -> None:
    missing = await http.post("/mcp", json=rpc("ping"), headers=MCP_HEADERS)
    assert missing.status_code == 400
    unknown = await http.post(
        "/mcp", json=rpc("ping"), headers={**MCP_HEADERS, "Mcp-Session-Id": "gone"}
    )
    assert unknown.status_code == 404
    headers = await open_session(http)
    server.drop_sessions()
    assert (await http.post("/mcp", json=rpc("ping"), headers=headers)).status_code == 404


async def test_delete_ends_the_session(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    assert (await http.delete("/mcp", headers=headers)).status_code == 200
    assert (await http.post("/mcp", json=rpc("ping"), headers=headers)).status_code == 404
    assert (await http.delete("/mcp", headers=headers)).status_code == 404


async def test_get_has_no_server_stream(http: httpx.AsyncClient) -> None:
    headers = await open_session(http)
    response = await http.get("/mcp", headers={**headers, "Accept": "text/event-stream"})
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Accept": "application/json", "Content-Type": "application/json"}, 406),
        ({**MCP_HEADERS, "Content-Type": "text/plain"}, 415),
        ({**MCP_HEADERS, "MCP-Protocol-Version": "1999-01-01"}, 400),
        ({**MCP_HEADERS, "Origin": "https://evil.example"}, 403),
    ],
)
async def test_bad_transport_headers_are_refused(
    http: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    response = await http.post("/mcp", json=initialize_message(), headers=headers)
    assert response.status_code == status


async def test_malformed_json_and_non_jsonrpc_bodies_are_refused(http: httpx.AsyncClient) -> None:
    garbage = await http.post("/mcp", content=b"{nope", headers=MCP_HEADERS)
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == -32700
    wrong = await http.post("/mcp", json={"id": 3, "method": "ping"}, headers=MCP_HEADERS)
    assert wrong.status_code == 400
    assert wrong.json() == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32600, "message": "not a JSON-RPC 2.0 message"},
    }


async def test_batches_work_only_on_the_revision_that_has_them(http: httpx.AsyncClient) -> None:
    old = await open_session(http, "2025-03-26")
    batch = [rpc("ping", 1), rpc("tools/list", 2), rpc("notifications/initialized", None)]
    answers = await call(http, old, batch)  # type: ignore[arg-type]
    assert [a["id"] for a in answers] == [1, 2]
    new = await open_session(http)
    refused = await http.post("/mcp", json=batch, headers=new)
    assert refused.status_code == 400
