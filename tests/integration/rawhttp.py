"""A scriptable HTTP/1.1 server on 127.0.0.1 for failure modes real servers will not produce."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    stream: SocketStream = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    async def reply(
        self, status: int, body: bytes = b"", content_type: str = "application/json", **headers: str
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} X",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        await self.stream.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def start_sse(self, **headers: str) -> None:
        lines = ["HTTP/1.1 200 OK", "Content-Type: text/event-stream", "Connection: close"]
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        await self.stream.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def event(self, data: Any, event_id: str | None = None, retry: int | None = None) -> None:
        text = ""
        if event_id is not None:
            text += f"id: {event_id}\n"
        if retry is not None:
            text += f"retry: {retry}\n"
        text += f"data: {json.dumps(data)}\n\n"
        await self.stream.send(text.encode())


Handler = Callable[[RawRequest], Awaitable[None]]


async def _read_request(stream: SocketStream) -> RawRequest | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode().split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += await stream.receive()
    return RawRequest(method, path, headers, body, stream)


@dataclass
class RawServer:
    url: str
    requests: list[RawRequest] = field(default_factory=list)
    _arrived: anyio.Event = field(default_factory=anyio.Event)

    def record(self, request: RawRequest) -> None:
        self.requests.append(request)
        self._arrived.set()

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(10):
            while len(self.requests) < count:
                self._arrived = anyio.Event()
                await self._arrived.wait()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    """Serve ``handler`` once per request; each connection carries one request and is closed."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    server = RawServer(f"http://127.0.0.1:{port}/mcp")

    async def serve(stream: SocketStream) -> None:
        async with stream:
            request = await _read_request(stream)
            if request is None:
                return
            server.record(request)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await handler(request)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
