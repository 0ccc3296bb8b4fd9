"""MCP Streamable HTTP client transport (revisions 2025-03-26 through 2026-07-28).

Each client message is POSTed to the MCP endpoint; the server answers with
JSON, an SSE stream, or 202. Server-initiated traffic arrives on a GET stream
that is reconnected with backoff and resumed with ``Last-Event-ID``. Every
httpx exception is translated here, once, into the proxy's exception tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx

from .. import jsonrpc
from ..errors import (
    SessionExpiredError,
    UpstreamError,
    UpstreamMessageTooLargeError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from ..jsonrpc import Kind, Message
from ..log import get_logger
from ..param_headers import ToolHeaders, without_tools
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

ACCEPT_BOTH = "application/json, text/event-stream"
ACCEPT_SSE = "text/event-stream"
MAX_RESUMES = 5
CLOSE_TIMEOUT_S = 5.0
STREAM_END_WAIT_S = 0.1
"""How long an answered POST stream may take to end before the proxy closes it."""
TOOLS_CALL = "tools/call"
TOOLS_LIST = "tools/list"
_log = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class StreamableHttpTransport:
    """One upstream MCP endpoint reached over Streamable HTTP.

    ``client`` is shared and carries authorization as its ``httpx.Auth``; this
    class never sees a token. ``protocol_version`` is a configured override of
    the negotiated ``MCP-Protocol-Version``. ``sleep`` and ``random`` are
    injectable so reconnect timing can be tested without waiting.
    ``max_requests`` bounds the requests in flight upstream at once (each may
    hold a connection for a whole SSE answer); None means no bound.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
        protocol_version: str | None = None,
        sleep: Sleep = anyio.sleep,
        random: Callable[[], float] | None = None,
        max_requests: int | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._http = HttpChannel(
            client, url, timeout_s=timeout_s, max_message_bytes=max_message_bytes
        )
        self._max_message = max_message_bytes
        # Requests beyond the limit wait here, first come first served, instead of in
        # httpcore's pool queue (which rescans every waiting request whenever a
        # connection frees: quadratic with 2,000 waiting calls). Notifications and
        # responses never wait: they are answered at once (202), and a server request
        # made from inside a long call must get its answer through even when every
        # slot is held by such calls.
        self._slots = anyio.Semaphore(max_requests) if max_requests else None
        self._url = url
        self._extra = dict(headers or {})
        self._timeout_s = timeout_s
        self._configured_version = protocol_version
        self._negotiated_version: str | None = None
        self._session_id: str | None = None
        self._modern = False
        self._tool_headers = ToolHeaders()
        self._sleep = sleep
        self._random = random

    @property
    def session_id(self) -> str | None:
        """The ``Mcp-Session-Id`` the server assigned at initialize, if any."""
        return self._session_id

    @property
    def protocol_version(self) -> str | None:
        """The ``MCP-Protocol-Version`` sent on requests after initialize."""
        return self._configured_version or self._negotiated_version

    def reset_session(self) -> None:
        """Forget the session before replaying initialize."""
        self._session_id = None
        self._negotiated_version = None

    # -- POST ---------------------------------------------------------------

    async def send(self, exchange: Exchange, deliver: Deliver) -> None:
        """POST one message and deliver every message of the answer.

        Raises a ProxyError when a request in the exchange is left unanswered.
        """
        msg = exchange.message
        if msg.method == jsonrpc.INITIALIZE:
            self._modern = False
        elif self.is_modern(msg):
            if msg.method == jsonrpc.CANCELLED:
                # 2026-07-28: closing the request's response stream is the cancellation;
                # the bridge has closed it already and the wire has no such notification.
                _log.debug("upstream.cancel_by_closing_stream")
                return
            self._modern = msg.kind is not Kind.NOTIFICATION or self._modern
        if self._slots is None or not exchange.pending:
            await self._post(exchange, deliver)
            return
        async with self._slots:
            await self._post(exchange, deliver)

    async def _post(self, exchange: Exchange, deliver: Deliver) -> None:
        msg = exchange.message
        headers = self.headers_for(msg, accept=ACCEPT_BOTH)
        headers["Content-Type"] = "application/json"
        async with self._http.open("POST", headers, exchange.body) as response:
            self._learn_session(msg, response)
            try:
                await self._check_status(response, sent_session=jsonrpc.MCP_SESSION_ID in headers)
            except UpstreamStatusError as exc:
                if not await self._answered_by_error_body(exc, exchange, deliver):
                    raise
                return
            kind = media_type(response)
            if response.status_code == 202:
                reason = "upstream answered 202 Accepted to a request"
            elif kind == "text/event-stream":
                await self._read_post_stream(response, exchange, deliver)
                return
            else:
                reason = await self._read_json(response, kind, exchange, deliver)
        if exchange.pending:
            raise UpstreamError(reason, url=self._url)

    def is_modern(self, message: Message | None) -> bool:
        """Tell whether ``message`` travels under the 2026-07-28+ rules.

        True for a message carrying a modern ``_meta`` protocol version, for a
        modern configured or negotiated version, and for a notification sent
        while the client speaks the modern revision (its cancellations carry
        no ``_meta``).
        """
        if message is not None and jsonrpc.is_modern(message):
            return True
        if jsonrpc.uses_routing_headers(self.protocol_version):
            return True
        return message is not None and message.kind is Kind.NOTIFICATION and self._modern

    async def _answered_by_error_body(
        self, exc: UpstreamStatusError, exchange: Exchange, deliver: Deliver
    ) -> bool:
        """Deliver a modern server's JSON-RPC error that came with an HTTP 4xx.

        A 2026-07-28 server answers, for example, an unsupported version with
        400 and ``UnsupportedProtocolVersionError``: the client needs that error
        itself (to retry with a supported version, or to tell a modern server
        from a legacy one), not a generic HTTP failure.
        """
        if not self.is_modern(exchange.message):
            return False
        try:
            value = jsonrpc.loads(exc.body)
        except ValueError:
            return False
        for item in jsonrpc.split_batch(value):
            if isinstance(item, dict) and "error" in item:
                answered = jsonrpc.response_ids([item])
                if answered and answered[0] in exchange.pending:
                    await self._deliver(item, jsonrpc.encode(item), exchange, deliver)
        return not exchange.pending

    async def _read_json(
        self, response: httpx.Response, kind: str, exchange: Exchange, deliver: Deliver
    ) -> str:
        body = await self._read_all(response)
        if not body.strip():
            return f"upstream returned an empty body (HTTP {response.status_code})"
        if kind != "application/json" and not kind.endswith("+json"):
            return f"upstream returned {kind or 'no content type'} instead of JSON"
        shape = self._shape(body, exchange)
        if shape is not None:
            await self._deliver(shape, body.strip(), exchange, deliver)
            return "upstream response did not contain an answer to the request"
        try:
            value = jsonrpc.loads(body)
        except ValueError:
            return "upstream returned a body that is not valid JSON"
        single = isinstance(value, dict) and b"\n" not in body and b"\r" not in body
        for item in jsonrpc.split_batch(value):
            line = body.strip() if single else jsonrpc.encode(item)
            await self._deliver(item, line, exchange, deliver)
        return "upstream response did not contain an answer to the request"

    def _shape(self, raw: bytes, exchange: Exchange | None) -> dict[str, Any] | None:
        """The top level of a large one-line message, to route it without parsing it all.

        None (parse in full) for small messages, multi-line ones, and answers
        this transport reads (initialize, tools/list).
        """
        if len(raw) < jsonrpc.LARGE_MESSAGE or b"\n" in raw.strip() or b"\r" in raw.strip():
            return None
        if exchange is not None and exchange.message.method in (jsonrpc.INITIALIZE, TOOLS_LIST):
            return None
        return jsonrpc.envelope(raw)

    async def _read_post_stream(
        self, response: httpx.Response, exchange: Exchange, deliver: Deliver
    ) -> None:
        decoder = SSEDecoder(self._max_message)
        failure: UpstreamError | None = None
        try:
            await self._pump(response, decoder, exchange, deliver)
        except (UpstreamTimeoutError, UpstreamMessageTooLargeError):
            raise  # resuming would only bring the same oversized event again
        except UpstreamError as exc:
            failure = exc
        if exchange.pending:
            await self._resume(decoder, exchange, deliver, failure)

    async def _resume(
        self,
        decoder: SSEDecoder,
        exchange: Exchange,
        deliver: Deliver,
        failure: UpstreamError | None,
    ) -> None:
        """Resume a POST stream cut before its response, when the server gave event ids."""
        backoff = Backoff(random=self._random) if self._random else Backoff()
        for attempt in range(MAX_RESUMES):
            if not decoder.last_event_id:
                break
            _log.info(
                "upstream.stream_resume", attempt=attempt + 1, last_event_id=decoder.last_event_id
            )
            await self._sleep(_delay(decoder, backoff))
            try:
                await self._get_stream(decoder, exchange, deliver)
            except (UpstreamStatusError, SessionExpiredError, UpstreamTimeoutError):
                raise
            except UpstreamError as exc:
                failure = exc
            if not exchange.pending:
                return
        reason = "upstream stream ended before the response"
        if failure is not None:
            reason = f"upstream stream was cut before the response: {failure}"
        raise UpstreamError(reason, url=self._url)

    # -- GET ----------------------------------------------------------------

    async def listen(self, deliver: Deliver) -> None:
        """Keep the server stream open: reconnect with backoff, resume with ``Last-Event-ID``.

        Returns when the server does not offer a stream (405).
        """
        if self.is_modern(None):
            _log.info("upstream.server_stream_unsupported", reason="2026-07-28 has no GET stream")
            return
        backoff = Backoff(random=self._random) if self._random else Backoff()
        decoder, session = SSEDecoder(self._max_message), self._session_id
        while True:
            if session != self._session_id:
                decoder, session = SSEDecoder(self._max_message), self._session_id
            try:
                await self._get_stream(decoder, None, deliver, on_open=backoff.reset)
                _log.debug("upstream.server_stream_ended")
            except _NoServerStreamError:
                _log.info("upstream.server_stream_unsupported", status=405)
                return
            except UpstreamError as exc:
                _log.warning("upstream.server_stream_failed", error=str(exc))
            await self._sleep(_delay(decoder, backoff))

    async def _get_stream(
        self,
        decoder: SSEDecoder,
        exchange: Exchange | None,
        deliver: Deliver,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        headers = self.headers_for(None, accept=ACCEPT_SSE)
        if decoder.last_event_id:
            headers[jsonrpc.LAST_EVENT_ID] = decoder.last_event_id
        async with self._http.open("GET", headers) as response:
            if response.status_code == 405 and exchange is None:
                raise _NoServerStreamError("405")
            await self._check_status(response, sent_session=jsonrpc.MCP_SESSION_ID in headers)
            if media_type(response) != "text/event-stream":
                kind = media_type(response) or "no content type"
                raise UpstreamError(
                    f"upstream answered the stream request with {kind}", url=self._url
                )
            if on_open is not None:
                on_open()
            decoder.reset_stream()
            await self._pump(response, decoder, exchange, deliver)

    # -- DELETE -------------------------------------------------------------

    async def close(self) -> None:
        """DELETE the session (405 means the server does not allow it; that is fine)."""
        if self._session_id is None:
            return
        headers = self.headers_for(None, accept=ACCEPT_BOTH)
        try:
            with anyio.fail_after(min(self._timeout_s, CLOSE_TIMEOUT_S)):
                async with self._http.open("DELETE", headers) as response:
                    _log.debug("upstream.session_deleted", status=response.status_code)
        except (UpstreamError, TimeoutError) as exc:
            _log.info("upstream.session_delete_failed", error=str(exc))

    # -- shared -------------------------------------------------------------

    def headers_for(self, message: Message | None, *, accept: str) -> dict[str, str]:
        """Headers for one upstream request carrying ``message`` (None for GET/DELETE).

        A 2026-07-28+ message carries no session id, an ``MCP-Protocol-Version``
        equal to its own ``_meta`` version, and the ``Mcp-Method``/``Mcp-Name``
        routing headers.
        """
        headers = dict(self._extra)
        headers["Accept"] = accept
        headers["Accept-Encoding"] = ACCEPT_ENCODING  # exactly what HttpChannel can undo
        modern = self.is_modern(message)
        if self._session_id is not None and not modern:
            headers[jsonrpc.MCP_SESSION_ID] = self._session_id
        version = jsonrpc.envelope_version(message) if message is not None else None
        version = version or self.protocol_version
        if version is not None and not (
            message is not None and message.method == jsonrpc.INITIALIZE
        ):
            headers[jsonrpc.MCP_PROTOCOL_VERSION] = version
        if message is not None and modern:
            headers.update(jsonrpc.routing_headers(message))
            if message.method == TOOLS_CALL:
                headers.update(self._tool_headers.headers(message.params))
        return headers

    def _learn_session(self, message: Message, response: httpx.Response) -> None:
        session = response.headers.get(jsonrpc.MCP_SESSION_ID)
        if session and not jsonrpc.is_valid_session_id(session):
            # Echoed on every later request: CR/LF or non-ASCII would split or break them.
            raise UpstreamError(
                "upstream sent an invalid Mcp-Session-Id (visible ASCII only, at most "
                f"{jsonrpc.MAX_SESSION_ID} characters); refusing the session",
                url=self._url,
            )
        if session and (message.method == jsonrpc.INITIALIZE or self._session_id is None):
            if session != self._session_id:
                _log.info("upstream.session_started")
            self._session_id = session

    async def _check_status(self, response: httpx.Response, *, sent_session: bool) -> None:
        status = response.status_code
        if status == 404 and sent_session:
            raise SessionExpiredError("upstream session expired (HTTP 404)", url=self._url)
        await self._http.raise_for_status(response)

    async def _pump(
        self,
        response: httpx.Response,
        decoder: SSEDecoder,
        exchange: Exchange | None,
        deliver: Deliver,
    ) -> None:
        chunks = self._chunks(response)
        async for chunk in chunks:
            try:
                events = decoder.feed(chunk)
            except EventTooLargeError:
                raise too_large(self._url, self._max_message) from None
            for event in events:
                await self._on_event(event, exchange, deliver)
            if exchange is not None and not exchange.pending:
                await self._read_to_end(chunks, decoder, deliver)
                return

    async def _read_to_end(
        self, chunks: AsyncIterator[bytes], decoder: SSEDecoder, deliver: Deliver
    ) -> None:
        """Let the server end a stream whose answer is complete, briefly.

        The server closes the stream right after the response (the specification
        says it SHOULD); reading up to that end keeps the connection reusable.
        Closing earlier, with the end still in flight, costs a new TCP connection
        for the next request. A server that keeps the stream open is cut off
        after a moment, as before; anything it sends meanwhile is delivered.
        """
        try:
            with anyio.move_on_after(STREAM_END_WAIT_S):
                async for chunk in chunks:
                    for event in decoder.feed(chunk):
                        await self._on_event(event, None, deliver)
        except UpstreamError as exc:
            _log.debug("upstream.stream_end_lost", error=str(exc))

    async def _on_event(
        self, event: ServerSentEvent, exchange: Exchange | None, deliver: Deliver
    ) -> None:
        if event.event != "message" or not event.raw.strip():
            return
        shape = self._shape(event.raw, exchange)
        if shape is not None:
            await self._deliver(shape, event.raw.strip(), exchange, deliver)
            return
        data = event.data
        try:
            value = jsonrpc.loads(data)
        except ValueError:
            _log.warning("upstream.invalid_event", reason="data is not JSON", size=len(data))
            return
        raw = data.encode("utf-8")
        single = isinstance(value, dict) and "\n" not in data and "\r" not in data
        for item in jsonrpc.split_batch(value):
            await self._deliver(
                item, raw.strip() if single else jsonrpc.encode(item), exchange, deliver
            )

    async def _deliver(
        self, item: Any, line: bytes, exchange: Exchange | None, deliver: Deliver
    ) -> None:
        if not jsonrpc.is_message(item):
            # stdout carries JSON-RPC only: a bare value or a foreign object is dropped.
            _log.warning("upstream.invalid_message", kind=type(item).__name__, size=len(line))
            return
        for answered in jsonrpc.response_ids([item]):
            if exchange is not None and answered in exchange.pending:
                exchange.pending.discard(answered)
                if exchange.message.method == jsonrpc.INITIALIZE:
                    self._negotiated_version = jsonrpc.negotiated_version(item)
                elif exchange.message.method == TOOLS_LIST and self.is_modern(exchange.message):
                    line = self._learn_tools(item, line)
        await deliver(line)

    def _learn_tools(self, item: dict[str, Any], line: bytes) -> bytes:
        """Learn ``x-mcp-header`` annotations; drop tools whose annotations are invalid."""
        result = item.get("result")
        rejected = self._tool_headers.learn(result)
        if not rejected or not isinstance(result, dict):
            return line
        _log.warning("upstream.tools_rejected", tools=rejected, reason="invalid x-mcp-header")
        return jsonrpc.encode({**item, "result": without_tools(result, rejected)})

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        async for chunk in self._http.chunks(response):
            yield chunk

    async def _read_all(self, response: httpx.Response) -> bytes:
        return await self._http.read_all(response)


class _NoServerStreamError(UpstreamError):
    """The server answered the GET stream with 405: it offers none."""


def _delay(decoder: SSEDecoder, backoff: Backoff) -> float:
    if decoder.retry_ms is not None:
        return decoder.retry_ms / 1000
    return backoff.next_delay()


__all__ = ["ACCEPT_BOTH", "ACCEPT_SSE", "StreamableHttpTransport"]
