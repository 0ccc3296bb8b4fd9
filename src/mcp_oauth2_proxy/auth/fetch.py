"""Bounded HTTP exchanges for OAuth traffic: size cap, total deadline, no redirects.

Requests are built here, not with ``client.build_request``, so the shared
client's default headers (which may carry upstream credentials) never reach an
authorization server, and ``auth=None`` keeps the bearer token away from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

METADATA_TIMEOUT_SECONDS = 10.0
TOKEN_TIMEOUT_SECONDS = 30.0
MAX_METADATA_BYTES = 512 * 1024
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """A fully read, size-checked response."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip().lower()


class ResponseTooLargeError(httpx.HTTPError):
    """A response body exceeded its size cap."""


def make_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = METADATA_TIMEOUT_SECONDS,
) -> httpx.Request:
    """Build a request with its own timeout and no client-level defaults."""
    request = httpx.Request(method, url, headers=dict(headers or {}), content=content)
    request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    return request


async def send_bounded(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    max_bytes: int,
    deadline: float,
) -> Fetched:
    """Send ``request`` without auth or redirects; read at most ``max_bytes`` within ``deadline`` s.

    Raises:
        httpx.HTTPError: transport failure, timeout or an oversized body.

    """
    try:
        return await asyncio.wait_for(_exchange(http, request, max_bytes), deadline)
    except asyncio.TimeoutError:
        raise httpx.ReadTimeout(
            f"no complete answer within {deadline:g} s", request=request
        ) from None


async def _exchange(http: httpx.AsyncClient, request: httpx.Request, max_bytes: int) -> Fetched:
    response = await http.send(request, stream=True, auth=None, follow_redirects=False)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ResponseTooLargeError(f"response larger than {max_bytes} bytes")
            chunks.append(chunk)
    finally:
        await response.aclose()
    return Fetched(response.status_code, response.headers, b"".join(chunks), str(request.url))


__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_TOKEN_RESPONSE_BYTES",
    "METADATA_TIMEOUT_SECONDS",
    "TOKEN_TIMEOUT_SECONDS",
    "Fetched",
    "ResponseTooLargeError",
    "make_request",
    "send_bounded",
]
