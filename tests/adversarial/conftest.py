"""Shared weapons for the adversarial suite: recording transports, captured logs, checks."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog

from mcp_oauth2_proxy.log import configure_logging, forget_secrets


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    yield stream
    structlog.reset_defaults()
    forget_secrets()


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """An ``httpx.MockTransport`` that records every request before answering it."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]

    def hosts(self) -> set[str]:
        return {r.url.host for r in self.requests}

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self), **kwargs)


def routes(table: dict[str, Any]) -> Handler:
    """Answer by exact URL: a value is a JSON document, an ``httpx.Response``, or a callable."""

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url).split("?", 1)[0]
        answer = table.get(url)
        if answer is None:
            return httpx.Response(404, text="not found")
        if callable(answer):
            return answer(request)  # type: ignore[no-any-return]
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return handle


class CountingBody(httpx.AsyncByteStream):
    """A response body of ``total`` bytes (None = endless), counting what was pulled from it."""

    def __init__(self, chunk: bytes, total: int | None) -> None:
        self.chunk = chunk
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.total is None or self.sent < self.total:
            self.sent += len(self.chunk)
            yield self.chunk


def stdout_lines_are_jsonrpc(lines: list[bytes]) -> list[dict[str, Any]]:
    """Every line parses as a JSON-RPC 2.0 object; return them."""
    parsed = []
    for line in lines:
        value = json.loads(line)
        assert isinstance(value, dict), line[:200]
        assert value.get("jsonrpc") == "2.0", line[:200]
        parsed.append(value)
    return parsed


def assert_secret_free(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"secret {secret[:6]}… leaked"


class Chunks(httpx.AsyncByteStream):
    """A body delivered in 64 KiB chunks, as a network would."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), 65536):
            yield self.data[start : start + 65536]


def as_stream(response: httpx.Response) -> httpx.Response:
    """Serve a response built with ``content=`` as a stream (the transport reads raw bytes)."""
    if not response.is_stream_consumed:
        return response
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-length"]
    raw = b"".join(response.stream)  # type: ignore[arg-type]
    return httpx.Response(response.status_code, headers=headers, stream=Chunks(raw))
