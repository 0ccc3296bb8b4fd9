"""The HTTP plumbing shared by the upstream transports.

One place sends requests on the shared ``httpx.AsyncClient``, follows only
same-origin 307/308 redirects (so the bearer token never leaves the configured
origin), reads response bodies, and translates every httpx exception into the
proxy's exception tree, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from ..errors import UpstreamError, UpstreamStatusError, UpstreamTimeoutError
from ..log import get_logger
from ..urls import origin

MAX_REDIRECTS = 5
_log = get_logger(__name__)


class HttpChannel:
    """Requests to one upstream origin on the shared client, with errors translated.

    ``url`` is the configured upstream URL: errors name it, and redirects may
    not leave its origin.
    """

    def __init__(self, client: httpx.AsyncClient, url: str, *, timeout_s: float) -> None:
        self.client = client
        self.url = url
        self.timeout_s = timeout_s

    @asynccontextmanager
    async def open(
        self,
        method: str,
        headers: dict[str, str],
        content: bytes | None = None,
        *,
        url: str | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and stream its response; follow only same-origin 307/308 redirects."""
        target = url or self.url
        for _ in range(MAX_REDIRECTS + 1):
            request = self.client.build_request(method, target, headers=headers, content=content)
            response = await self._send(request)
            location = response.headers.get("location")
            if response.status_code in (307, 308) and location:
                redirect = str(response.url.join(location))
                await response.aclose()
                if origin(redirect) != origin(target):
                    raise UpstreamError(
                        f"upstream redirected to another origin ({origin(redirect)}); not followed "
                        "so that credentials stay with the configured server",
                        url=self.url,
                    )
                _log.debug(
                    "upstream.redirect_followed", status=response.status_code, location=redirect
                )
                target = redirect
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise UpstreamError(f"upstream redirected more than {MAX_REDIRECTS} times", url=self.url)

    async def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """Yield the raw body as it arrives; a silence longer than the timeout is an error."""
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(
                f"upstream was silent for {self.timeout_s:g} s", url=self.url
            ) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(describe(exc), url=self.url) from exc

    async def read_all(self, response: httpx.Response) -> bytes:
        """Read the whole body."""
        return b"".join([chunk async for chunk in self.chunks(response)])

    async def raise_for_status(self, response: httpx.Response) -> None:
        """Raise for a status ≥ 400 (with the body) or an unfollowed redirect."""
        status = response.status_code
        if status >= 400:
            body = (await self.read_all(response)).decode("utf-8", "replace")
            raise UpstreamStatusError(
                f"upstream answered HTTP {status}", url=self.url, status=status, body=body
            )
        if not 200 <= status < 300:
            location = response.headers.get("location", "")
            raise UpstreamError(
                f"upstream answered HTTP {status} {location}".strip() + " (redirect not followed)",
                url=self.url,
            )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(
                f"upstream did not answer within {self.timeout_s:g} s", url=self.url
            ) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(describe(exc), url=self.url) from exc


def media_type(response: httpx.Response) -> str:
    """The response's media type, lower-cased, without parameters."""
    value: str = response.headers.get("content-type", "")
    return value.split(";", maxsplit=1)[0].strip().lower()


def describe(exc: httpx.HTTPError) -> str:
    """A short, user-facing reason for an httpx failure."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to upstream: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"upstream connection broke: {detail}"
    return f"upstream request failed: {detail}"


__all__ = ["MAX_REDIRECTS", "HttpChannel", "describe", "media_type"]
