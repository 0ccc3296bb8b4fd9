"""MCP HTTP+SSE client transport (revision 2024-11-05, deprecated but still widely deployed).

The client opens a GET event stream on the upstream URL; the server's first
event, ``endpoint``, names the URL to POST messages to. Every answer arrives
as a ``message`` event on that one stream: a POST's own response (202, or a
200 with some text) is never the answer. Responses are routed back to the
exchange that waits for their id; everything else (server requests and
notifications) goes to the client. The server's session lives and dies with
the stream, so a reconnected stream means a new session: the transport then
reports the session as expired and the bridge replays the client's handshake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import httpx

from .. import jsonrpc
from ..errors import ProxyError, SessionExpiredError, UpstreamError, UpstreamTimeoutError
from ..jsonrpc import JsonId
from ..log import get_logger
from ..urls import origin
from . import Deliver, Exchange
from .backoff import Backoff
from .http import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_MESSAGE_BYTES,
    HttpChannel,
    media_type,
    too_large,
)
from .sse import EventTooLargeError, ServerSentEvent, SSEDecoder
from .streamable_http import ACCEPT_BOTH, ACCEPT_SSE, Sleep

ENDPOINT_EVENT = "endpoint"
_log = get_logger(__name__)


class ForeignEndpointError(UpstreamError):
    """The server named a message endpoint on another origin; credentials must not go there."""


class _Route:
    """An exchange waiting for its answers on the event stream."""

    def __init__(self, exchange: Exchange, deliver: Deliver) -> None:
        self.exchange = exchange
        self.deliver = deliver
        self.done = anyio.Event()
        self.failure: ProxyError | None = None

    def fail(self, failure: ProxyError) -> None:
        if not self.done.is_set():
            self.failure = failure
            self.done.set()


class LegacySseTransport:
    """One upstream MCP server reached over the 2024-11-05 HTTP+SSE transport.

    ``server_sink`` receives the messages the server sends on its own
    (requests, notifications). The event stream runs as a task in
    ``task_group`` from the first :meth:`send` until :meth:`close`. ``client``
    carries authorization as its ``httpx.Auth``, which covers the GET and
    every POST alike.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        task_group: anyio.abc.TaskGroup,
        server_sink: Deliver,
        headers: dict[str, str] | None = None,
        timeout_s: float = 300.0,
        sleep: Sleep = anyio.sleep,
        random: Callable[[], float] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._http = HttpChannel(
            client, url, timeout_s=timeout_s, max_message_bytes=max_message_bytes
        )
        self._max_message = max_message_bytes
        self._url = url
        self._extra = dict(headers or {})
        self._tg = task_group
        self._server_sink = server_sink
        self._sleep = sleep
        self._backoff = Backoff(random=random) if random else Backoff()
        self._routes: dict[JsonId, _Route] = {}
        self._endpoint: str | None = None
        self._epoch = 0
        self._session_epoch: int | None = None
        self._attempts = 0
        self._failure: ProxyError | None = None
        self._fatal: ForeignEndpointError | None = None
        self._changed = anyio.Event()
        self._loop: anyio.CancelScope | None = None
        self._connection = anyio.CancelScope()
        self._pause = anyio.CancelScope()

    @property
    def session_id(self) -> None:
        """HTTP+SSE has no session header: the session is the stream itself."""
        return None

    @property
    def endpoint(self) -> str | None:
        """The message endpoint of the current stream, once announced."""
        return self._endpoint

    def reset_session(self) -> None:
        """Forget the handshake: the next ``initialize`` starts a session on the current stream."""
        self._session_epoch = None

    async def listen(self, deliver: Deliver) -> None:  # noqa: ARG002 - the Transport signature
        """Nothing to open: server messages already flow on the one event stream."""
        _log.debug("upstream.server_stream_shared", transport="sse")

    async def close(self) -> None:
        """Close the event stream, which ends the server's session."""
        if self._loop is not None:
            self._loop.cancel()

    # -- sending ----------------------------------------------------------------

    async def send(self, exchange: Exchange, deliver: Deliver) -> None:
        """POST one message to the endpoint and wait for its answers on the stream.

        Raises a ProxyError when a request is left unanswered, in particular
        when the stream is lost before the answer arrived.
        """
        endpoint, epoch = await self._await_endpoint()
        method = exchange.message.method
        if method == jsonrpc.INITIALIZE:
            self._session_epoch = epoch
        elif self._session_epoch is not None and self._session_epoch != epoch:
            raise SessionExpiredError(
                "the legacy SSE stream was re-opened, which started a new server session",
                url=self._url,
            )
        route = _Route(exchange, deliver)
        ids = list(exchange.pending)
        for request_id in ids:
            self._routes[request_id] = route
        try:
            await self._post(endpoint, epoch, exchange)
            if exchange.pending:
                await route.done.wait()
            if route.failure is not None and exchange.pending:
                raise route.failure
        finally:
            for request_id in ids:
                if self._routes.get(request_id) is route:
                    del self._routes[request_id]

    async def _post(self, endpoint: str, epoch: int, exchange: Exchange) -> None:
        headers = dict(self._extra)
        headers["Accept"] = ACCEPT_BOTH
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        headers["Content-Type"] = "application/json"
        async with self._http.open("POST", headers, exchange.body, url=endpoint) as response:
            if response.status_code == 404 and exchange.message.method != jsonrpc.INITIALIZE:
                self._renew(epoch)
                raise SessionExpiredError(
                    "the legacy SSE server no longer knows the session (HTTP 404)", url=self._url
                )
            await self._http.raise_for_status(response)
            # The POST is only acknowledged here (202 or 200); the answer comes on the stream.

    def _renew(self, epoch: int) -> None:
        """Drop a stream whose session the server forgot, so the loop opens a new one."""
        if epoch == self._epoch and self._endpoint is not None:
            self._endpoint = None
            self._connection.cancel()

    async def _await_endpoint(self) -> tuple[str, int]:
        """Wait for an announced endpoint; fail after one failed attempt or the timeout."""
        self._start()
        attempts = self._attempts
        with anyio.move_on_after(self._http.timeout_s):
            while True:
                if self._fatal is not None:
                    raise self._fatal
                if self._endpoint is not None:
                    return self._endpoint, self._epoch
                if self._attempts > attempts and self._failure is not None:
                    raise self._failure
                self._pause.cancel()  # a waiting message is worth reconnecting now
                changed = self._changed
                await changed.wait()
        raise UpstreamTimeoutError(
            f"the legacy SSE server sent no endpoint event within {self._http.timeout_s:g} s",
            url=self._url,
        )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # -- the event stream ---------------------------------------------------------

    def _start(self) -> None:
        if self._loop is None:
            self._loop = anyio.CancelScope()
            self._tg.start_soon(self._run, self._loop)

    async def _run(self, scope: anyio.CancelScope) -> None:
        with scope:
            decoder = SSEDecoder(self._max_message)
            while True:
                self._connection = anyio.CancelScope()
                reason = "the server closed it"
                with self._connection:
                    try:
                        await self._connect(decoder)
                    except ForeignEndpointError as exc:
                        _log.error("upstream.sse_endpoint_refused", error=str(exc))
                        self._fatal = exc
                        self._lost(str(exc))
                        return
                    except ProxyError as exc:
                        reason = str(exc)
                        self._attempts += 1
                        self._failure = exc
                if self._connection.cancelled_caught:
                    reason = "it was re-opened for a new session"
                _log.warning("upstream.sse_stream_lost", reason=reason)
                self._lost(reason)
                delay = decoder.retry_ms / 1000 if decoder.retry_ms else self._backoff.next_delay()
                self._pause = anyio.CancelScope()
                with self._pause:
                    await self._sleep(delay)

    async def _connect(self, decoder: SSEDecoder) -> None:
        headers = dict(self._extra)
        headers["Accept"] = ACCEPT_SSE
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        async with self._http.open("GET", headers) as response:
            await self._http.raise_for_status(response)
            if media_type(response) != "text/event-stream":
                kind = media_type(response) or "no content type"
                raise UpstreamError(
                    f"upstream answered the HTTP+SSE stream request with {kind}", url=self._url
                )
            decoder.reset_stream()
            epoch = self._epoch
            async for chunk in self._http.chunks(response):
                try:
                    events = decoder.feed(chunk)
                except EventTooLargeError:
                    raise too_large(self._url, self._max_message) from None
                for event in events:
                    await self._on_event(event)
            if epoch == self._epoch:
                raise UpstreamError(
                    "the legacy SSE stream ended before its endpoint event", url=self._url
                )

    def _lost(self, reason: str) -> None:
        """Fail every exchange still waiting: its answer can no longer arrive."""
        self._endpoint = None
        failure = UpstreamError(
            f"the legacy SSE stream was lost before the response ({reason})", url=self._url
        )
        for route in set(self._routes.values()):
            route.fail(failure)
        self._notify()

    async def _on_event(self, event: ServerSentEvent) -> None:
        if event.event == ENDPOINT_EVENT:
            self._on_endpoint(event.data.strip())
        elif event.event == "message" and event.data.strip():
            await self._on_message(event.data)

    def _on_endpoint(self, data: str) -> None:
        target = resolve_endpoint(self._url, data)
        self._endpoint = target
        self._epoch += 1
        self._failure = None
        self._backoff.reset()
        _log.info("upstream.sse_endpoint", endpoint=target)
        self._notify()

    async def _on_message(self, data: str) -> None:
        try:
            value = jsonrpc.loads(data)
        except ValueError:
            _log.warning("upstream.invalid_event", reason="data is not JSON", size=len(data))
            return
        single = isinstance(value, dict) and "\n" not in data and "\r" not in data
        for item in jsonrpc.split_batch(value):
            line = data.strip().encode("utf-8") if single else jsonrpc.encode(item)
            await self._route(item, line)

    async def _route(self, item: Any, line: bytes) -> None:
        if not jsonrpc.is_message(item):
            _log.warning("upstream.invalid_message", kind=type(item).__name__, size=len(line))
            return
        for answered in jsonrpc.response_ids([item]):
            route = self._routes.pop(answered, None)
            if route is not None and answered in route.exchange.pending:
                route.exchange.pending.discard(answered)
                await route.deliver(line)
                if not route.exchange.pending:
                    route.done.set()
                return
        await self._server_sink(line)


def resolve_endpoint(upstream_url: str, data: str) -> str:
    """Resolve an ``endpoint`` event against the upstream URL; refuse another origin.

    Raises :class:`ForeignEndpointError`: the bearer token must never travel
    to a server other than the configured one.
    """
    if not data:
        raise UpstreamError("the legacy SSE server sent an empty endpoint event", url=upstream_url)
    target = str(httpx.URL(upstream_url).join(data))
    if origin(target) != origin(upstream_url):
        raise ForeignEndpointError(
            f"the legacy SSE server announced its message endpoint on another origin "
            f"({origin(target)}); refused so that credentials stay with {origin(upstream_url)}",
            url=upstream_url,
        )
    return target


__all__ = ["ENDPOINT_EVENT", "ForeignEndpointError", "LegacySseTransport", "resolve_endpoint"]
