from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectSendStream

from mcp_oauth2_proxy.app import MAX_CONNECTIONS
from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport


class Sink:
    """Collects what the bridge writes for the client."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self._changed = anyio.Event()

    @property
    def messages(self) -> list[Any]:
        return [json.loads(line) for line in self.raw]

    async def send(self, line: bytes) -> None:
        assert b"\n" not in line
        self.raw.append(line)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Any]:
        with anyio.fail_after(10):
            while len(self.raw) < count:
                self._changed = anyio.Event()
                await self._changed.wait()
        return self.messages


def request(msg_id: Any, method: str = "tools/call", **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()


def notification(method: str, **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode()


def result(msg_id: Any, value: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "result": value if value is not None else {}}


INITIALIZE = request(
    0,
    "initialize",
    protocolVersion="2025-06-18",
    capabilities={},
    clientInfo={"name": "t", "version": "1"},
)
INITIALIZED = notification("notifications/initialized")


@asynccontextmanager
async def bridge_to(
    url: str, sink: Sink, *, timeout_s: float = 5.0, grace_s: float = 0.2, **kwargs: Any
) -> AsyncIterator[tuple[Bridge, StreamableHttpTransport]]:
    auth = kwargs.pop("auth", None)
    open_server_stream = kwargs.pop("open_server_stream", False)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, pool=None),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        follow_redirects=False,
        auth=auth,
    ) as client:
        transport = StreamableHttpTransport(client, url, timeout_s=timeout_s, **kwargs)
        bridge = Bridge(transport, sink, open_server_stream=open_server_stream, grace_s=grace_s)
        yield bridge, transport


@asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[MemoryObjectSendStream[bytes]]:
    """Run ``bridge`` over a memory source; closing the context is the client's EOF."""
    send, receive = anyio.create_memory_object_stream[bytes](100)
    async with receive, anyio.create_task_group() as tg:
        tg.start_soon(bridge.run, receive)
        async with send:
            yield send
