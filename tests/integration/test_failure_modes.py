from __future__ import annotations

import json

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.errors import AuthError

from .helpers import INITIALIZE, Sink, bridge_to, notification, request, result
from .rawhttp import RawRequest, raw_server

pytestmark = pytest.mark.anyio


async def _error_for(handler, line: bytes = request(1)) -> dict:  # type: ignore[no-untyped-def]
    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(line)
    answer = sink.messages[-1]
    assert answer["id"] == json.loads(line)["id"]
    return answer["error"]  # type: ignore[no-any-return]


async def test_an_html_502_becomes_error_32001_with_status_and_the_start_of_the_body() -> None:
    page = b"<html>" + b"x" * 2000 + b"</html>"

    async def handler(req: RawRequest) -> None:
        await req.reply(502, page, "text/html")

    error = await _error_for(handler)
    assert error["code"] == -32001
    assert error["data"]["status"] == 502
    assert error["data"]["body"] == page[:500].decode()


async def test_a_connection_reset_mid_stream_forwards_what_arrived_and_answers_the_request() -> (
    None
):
    sink = Sink()

    async def handler(req: RawRequest) -> None:
        await req.start_sse()
        await req.event({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"p": 1}})
        await req.stream.send(b'data: {"jsonrpc": "2.0", "id"')  # cut mid-event

    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(request(1))
    progress, answer = sink.messages
    assert progress["method"] == "notifications/progress"
    assert answer["id"] == 1
    assert answer["error"]["code"] == -32000


async def test_a_stream_that_ends_without_the_response_is_answered_with_32000() -> None:
    async def handler(req: RawRequest) -> None:
        await req.start_sse()
        await req.event({"jsonrpc": "2.0", "method": "notifications/message", "params": {}})

    error = await _error_for(handler)
    assert error["code"] == -32000
    assert "ended before the response" in error["data"]["reason"]


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (202, b"", "application/json", "202"),
        (200, b"", "application/json", "empty body"),
        (200, b"<html>hi</html>", "text/html", "text/html"),
        (200, b"{not json", "application/json", "not valid JSON"),
    ],
)
async def test_an_unusable_answer_to_a_request_is_answered_with_32000(
    status: int, body: bytes, content_type: str, reason: str
) -> None:
    async def handler(req: RawRequest) -> None:
        await req.reply(status, body, content_type)

    error = await _error_for(handler)
    assert error["code"] == -32000
    assert reason in error["data"]["reason"]


async def test_202_to_a_notification_is_silent() -> None:
    sink = Sink()

    async def handler(req: RawRequest) -> None:
        await req.reply(202)

    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(notification("notifications/roots/list_changed"))
        await bridge.dispatch(json.dumps(result(9)).encode())
    assert sink.messages == []


async def test_an_upstream_that_never_answers_times_out_with_32000() -> None:
    async def handler(req: RawRequest) -> None:
        await anyio.sleep_forever()

    sink = Sink()
    async with (
        raw_server(handler) as server,
        bridge_to(server.url, sink, timeout_s=0.2) as (bridge, _),
    ):
        await bridge.dispatch(request(1))
    [answer] = sink.messages
    assert answer["error"]["code"] == -32000
    assert "0.2 s" in answer["error"]["data"]["reason"]


async def test_an_unreachable_upstream_is_answered_with_32000() -> None:
    async with raw_server(lambda req: req.reply(200)) as server:
        url = server.url
    sink = Sink()
    async with bridge_to(url, sink) as (bridge, _):
        await bridge.dispatch(request("a"))
    [answer] = sink.messages
    assert (answer["id"], answer["error"]["code"]) == ("a", -32000)


async def test_a_redirect_to_another_origin_is_refused_and_the_other_origin_gets_nothing() -> None:
    async def elsewhere(req: RawRequest) -> None:
        await req.reply(200, json.dumps(result(1)).encode())

    async with raw_server(elsewhere) as other:

        async def handler(req: RawRequest) -> None:
            await req.reply(307, location=other.url)

        error = await _error_for(handler)
        assert other.requests == []
    assert error["code"] == -32000
    assert "another origin" in error["data"]["reason"]


async def test_a_same_origin_307_is_followed_with_the_same_body() -> None:
    async def handler(req: RawRequest) -> None:
        if req.path == "/mcp":
            await req.reply(307, location="/mcp/")
        else:
            await req.reply(200, json.dumps(result(1, {"body": req.json()})).encode())

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(request(1, x=1))
    assert sink.messages[0]["result"]["body"]["params"] == {"x": 1}


async def test_a_post_stream_cut_before_its_response_is_resumed_with_last_event_id() -> None:
    async def handler(req: RawRequest) -> None:
        if req.method == "POST":
            await req.start_sse()
            await req.event({"jsonrpc": "2.0", "method": "notifications/progress"}, "ev-1", retry=5)
            return  # the connection closes before the response
        assert req.headers["last-event-id"] == "ev-1"
        await req.start_sse()
        await req.event(result(1, {"resumed": True}), "ev-2")

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(request(1))
    progress, answer = sink.messages
    assert progress["method"] == "notifications/progress"
    assert answer == result(1, {"resumed": True})
    assert [r.method for r in server.requests] == ["POST", "GET"]


async def test_an_auth_failure_is_answered_with_32000_and_the_reason() -> None:
    class FailingAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            raise AuthError("login required: run mcp-oauth2-proxy login")
            yield request

    sink = Sink()
    async with raw_server(lambda req: req.reply(200)) as server:
        async with bridge_to(server.url, sink, auth=FailingAuth()) as (bridge, _):
            await bridge.dispatch(request(3))
        assert server.requests == []
    [answer] = sink.messages
    assert answer["error"]["code"] == -32000
    assert "login required" in answer["error"]["data"]["reason"]


async def test_initialize_failing_does_not_block_later_messages() -> None:
    async def handler(req: RawRequest) -> None:
        if req.json()["method"] == "initialize":
            await req.reply(500, b"boom", "text/plain")
        else:
            await req.reply(200, json.dumps(result(req.json()["id"])).encode())

    sink = Sink()
    async with raw_server(handler) as server, bridge_to(server.url, sink) as (bridge, _):
        await bridge.dispatch(INITIALIZE)
        await bridge.dispatch(request(1))
    init, answer = sink.messages
    assert init["error"]["code"] == -32001
    assert answer == result(1)
