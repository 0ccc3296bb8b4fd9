from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from mcp_oauth2_proxy.jsonrpc import classify
from mcp_oauth2_proxy.transport import Exchange
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport

pytestmark = pytest.mark.anyio
URL = "https://mcp.example.com/mcp"
CALL = b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"blob"}}'
# Spaces and key order as a server might send them: the client must get exactly these bytes.
BIG = (
    b'{"result": {"content": [{"type": "text", "text": "'
    + rb"\u00e9 \" x" * 300_000
    + b'"}], "isError": false}, "jsonrpc": "2.0", "id": 9}'
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Chunks(httpx.AsyncByteStream):
    """A body arriving in network-sized pieces."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), 65_536):
            yield self.body[start : start + 65_536]


async def answer_with(content_type: str, body: bytes) -> list[bytes]:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=Chunks(body))

    out: list[bytes] = []

    async def deliver(line: bytes) -> None:
        out.append(line)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        transport = StreamableHttpTransport(client, URL)
        exchange = Exchange.of(classify(json.loads(CALL)), CALL)
        await transport.send(exchange, deliver)
        assert not exchange.pending
    return out


async def test_a_large_json_answer_reaches_the_client_byte_for_byte() -> None:
    assert await answer_with("application/json", BIG) == [BIG]


async def test_a_large_sse_answer_reaches_the_client_byte_for_byte() -> None:
    stream = b"event: message\r\nid: 1\r\ndata: " + BIG + b"\r\n\r\n"
    assert await answer_with("text/event-stream", stream) == [BIG]
