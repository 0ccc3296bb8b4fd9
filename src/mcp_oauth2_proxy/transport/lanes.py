"""Connection pools of a few connections each, filled in order: many connections, cheap requests.

httpcore's pool walks every connection it holds, several times per request
(expiry and readability checks, a quadratic count of idle connections). With
the hundred connections that a hundred concurrent SSE answers need, that walk
cost more CPU than everything else the proxy does per message. Here the
connections are split into lanes of a few connections each: a request takes
the first lane with a free connection, so ordinary traffic stays in the first
lane or two and every walk is short, while bursts and long-running calls still
find a connection of their own in later lanes.

Plain-HTTP and HTTPS requests use separate lanes, built on first use: a proxy
that only ever talks ``http://`` to a loopback server never pays for loading
certificate stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

LANE_CONNECTIONS = 8
"""Connections per lane; small enough that httpcore's per-request walk stays cheap."""
KEEPALIVE_EXPIRY_S = 4.0
"""Idle connections are closed after this; below the 5 s that uvicorn and Node servers use,
so the proxy never sends a request on a connection the server is closing at that moment."""

TransportFactory = Callable[[httpx.Limits, bool], httpx.AsyncBaseTransport]
"""Builds one lane's pool from its limits and whether it serves ``https`` (True) origins."""


def lane_limits() -> httpx.Limits:
    """The limits of one lane: every connection may stay open for reuse."""
    return httpx.Limits(
        max_connections=LANE_CONNECTIONS,
        max_keepalive_connections=LANE_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )


class LanedTransport(httpx.AsyncBaseTransport):
    """``lanes`` connection pools built by ``factory``; a request takes the first one not full.

    A lane counts a request as busy until its response is closed (for an SSE
    answer, until the stream ends). When every lane is full the request goes
    to the least busy lane and waits there for a connection.
    """

    def __init__(self, lanes: int, factory: TransportFactory) -> None:
        self._factory = factory
        self._lanes = lanes
        self._pools: dict[bool, list[httpx.AsyncBaseTransport | None]] = {}
        self._busy: dict[bool, list[int]] = {}

    @property
    def capacity(self) -> int:
        """Connections across the lanes of one scheme."""
        return self._lanes * LANE_CONNECTIONS

    def busy(self, *, tls: bool = False) -> list[int]:
        """Requests in progress per lane of one scheme (for tests and diagnostics)."""
        return list(self._busy.get(tls, [0] * self._lanes))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on the first lane of its scheme with a free connection."""
        tls = request.url.scheme == "https"
        busy = self._busy.setdefault(tls, [0] * self._lanes)
        lane = _pick(busy)
        busy[lane] += 1
        try:
            response = await self._pool(tls, lane).handle_async_request(request)
        except BaseException:
            busy[lane] -= 1
            raise
        response.stream = _Releasing(response.stream, lambda: _release(busy, lane))
        return response

    async def aclose(self) -> None:
        """Close every lane's connections."""
        for pools in self._pools.values():
            for pool in pools:
                if pool is not None:
                    await pool.aclose()

    def _pool(self, tls: bool, lane: int) -> httpx.AsyncBaseTransport:
        pools = self._pools.setdefault(tls, [None] * self._lanes)
        pool = pools[lane]
        if pool is None:
            pool = pools[lane] = self._factory(lane_limits(), tls)
        return pool


def _pick(busy: list[int]) -> int:
    for lane, count in enumerate(busy):
        if count < LANE_CONNECTIONS:
            return lane
    return min(range(len(busy)), key=busy.__getitem__)


def _release(busy: list[int], lane: int) -> None:
    busy[lane] -= 1


class _Releasing(httpx.AsyncByteStream):
    """A response body that frees its lane slot once, when it is closed."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, release: Callable[[], None]
    ) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 - async transports only
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()


__all__ = ["KEEPALIVE_EXPIRY_S", "LANE_CONNECTIONS", "LanedTransport", "lane_limits"]
