"""The bridge core: client messages in, upstream exchanges out, every request answered.

Independent of stdio: a front door hands lines to :meth:`Bridge.dispatch` (or a
whole source to :meth:`Bridge.run`) and takes lines from a :class:`MessageSink`.
The handshake (``initialize``, ``notifications/initialized``) is forwarded in
order; everything after it runs concurrently, so a slow call never delays
another. A 404 on a session re-initializes upstream by replaying the client's
handshake, once, while other traffic waits (SPEC §2).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio
import anyio.abc

from . import jsonrpc
from .errors import ProxyError, SessionExpiredError, UpstreamError, UpstreamStatusError
from .jsonrpc import JsonId, Kind, Message
from .log import get_logger, redact_text
from .transport import Exchange, Transport

DEFAULT_GRACE_S = 5.0
_log = get_logger(__name__)


class MessageSink(Protocol):
    """Where the bridge writes messages for the client, one JSON line each."""

    async def send(self, line: bytes) -> None:
        """Deliver one message to the client."""


class _Flight:
    """An exchange in progress and the scope that can abort it."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.scope = anyio.CancelScope()


class Bridge:
    """Route client messages to a :class:`Transport` and its answers back to a sink."""

    def __init__(
        self,
        transport: Transport,
        sink: MessageSink,
        *,
        open_server_stream: bool = True,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self._transport = transport
        self._sink = sink
        self._open_server_stream = open_server_stream
        self._grace_s = grace_s
        self._tg: anyio.abc.TaskGroup | None = None
        self._reading = anyio.CancelScope()
        self._grace = anyio.CancelScope()
        self._flights: set[_Flight] = set()
        self._idle = anyio.Event()
        self._idle.set()
        self._ready = anyio.Event()
        self._ready.set()
        self._reinit_lock = anyio.Lock()
        self._generation = 0
        self._handshake: list[tuple[Message, bytes]] = []
        self._listening = False

    async def run(self, source: AsyncIterable[bytes]) -> None:
        """Forward until ``source`` ends or :meth:`stop`; drain; end the upstream session."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                with self._reading:
                    async for line in source:
                        await self.dispatch(line)
                _log.info("bridge.input_closed", in_flight=len(self._flights))
                await self._drain()
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                await self._transport.close()

    def stop(self) -> None:
        """Stop reading input; in-flight requests get the grace period.

        Asked a second time (a second signal), the grace period ends at once:
        whatever is still open is answered with an error right away.
        """
        if self._reading.cancel_called:
            _log.info("bridge.grace_skipped", in_flight=len(self._flights))
            self._grace.cancel()
        self._reading.cancel()

    async def dispatch(self, line: bytes) -> None:
        """Handle one line from the client."""
        if isinstance(line, jsonrpc.OversizedLine):
            await self._refuse_oversized(line)
            return
        if not line.strip():
            return
        try:
            value = jsonrpc.parse(line)
        except jsonrpc.ParseError as exc:
            _log.warning("bridge.parse_error", reason=str(exc), size=len(line))
            await self._emit(jsonrpc.parse_error(str(exc)))
            return
        message = jsonrpc.classify(value)
        if message.kind is Kind.BATCH:
            screened = await self._screen_batch(message, line)
            if screened is None:
                return
            message, line = screened
        if message.kind is Kind.INVALID:
            _log.warning("bridge.invalid_message", reason=message.reason, id=message.id)
            await self._emit(jsonrpc.invalid_request(message.id, message.reason))
            return
        await self._route(message, line)

    async def _refuse_oversized(self, line: jsonrpc.OversizedLine) -> None:
        """Answer a line beyond ``maxLineBytes``, with its request's id when its start names it."""
        msg_id = jsonrpc.sniff_id(line)
        _log.warning("bridge.line_too_large", size=line.size, limit=line.limit, id=msg_id)
        reason = (
            f"message of {line.size} bytes exceeds maxLineBytes ({line.limit} bytes); "
            "it was not forwarded"
        )
        await self._emit(jsonrpc.invalid_request(msg_id, reason))

    async def _route(self, message: Message, line: bytes) -> None:
        if message.method in (jsonrpc.INITIALIZE, jsonrpc.INITIALIZED):
            # The handshake is forwarded in order, before anything read after it.
            self._remember_handshake(message, line)
            await self._forward(_Flight(Exchange.of(message, line)))
            if message.method == jsonrpc.INITIALIZED:
                self._start_server_stream()
            return
        target = jsonrpc.cancelled_request_id(message)
        if target is not None:
            self._abort(target)
        flight = _Flight(Exchange.of(message, line))
        if self._tg is None:
            await self._forward(flight)
        else:
            # Tracked before its task starts: input that ends right after this line
            # must still give it the grace period, not an instant "shutting down".
            self._begin(flight)
            self._tg.start_soon(self._forward, flight)

    def _remember_handshake(self, message: Message, line: bytes) -> None:
        if message.method == jsonrpc.INITIALIZE:
            self._handshake = [(message, line)]
        elif self._handshake and len(self._handshake) == 1:
            self._handshake.append((message, line))

    async def _screen_batch(self, batch: Message, line: bytes) -> tuple[Message, bytes] | None:
        """Answer invalid batch elements here; forward the valid rest."""
        invalid = [item for item in batch.items if item.kind is Kind.INVALID]
        for item in invalid:
            await self._emit(jsonrpc.invalid_request(item.id, item.reason))
        if not invalid:
            return batch, line
        valid = tuple(item for item in batch.items if item.kind is not Kind.INVALID)
        if not valid:
            return None
        values = [item.value for item in valid]
        return Message(Kind.BATCH, values, items=valid), jsonrpc.encode(values)

    def _start_server_stream(self) -> None:
        if self._open_server_stream and not self._listening and self._tg is not None:
            self._listening = True
            self._tg.start_soon(self._transport.listen, self._sink.send)

    # -- one exchange -----------------------------------------------------------

    async def _forward(self, flight: _Flight) -> None:
        message = flight.exchange.message
        self._begin(flight)
        with self._tracked(flight), flight.scope:
            try:
                await self._send(flight.exchange)
            except ProxyError as exc:
                await self._fail(flight.exchange, exc)
            except Exception as exc:  # noqa: BLE001 - one broken exchange must not end the bridge
                _log.exception("bridge.internal_error", method=message.method)
                await self._fail(flight.exchange, UpstreamError(f"internal error: {exc}"))
        if flight.scope.cancelled_caught:
            _log.info("bridge.exchange_aborted", method=message.method, id=message.id)

    async def _send(self, exchange: Exchange) -> None:
        await self._ready.wait()
        generation = self._generation
        try:
            await self._transport.send(exchange, self._sink.send)
        except SessionExpiredError:
            if not self._handshake or exchange.message.method == jsonrpc.INITIALIZE:
                raise
            await self._reinitialize(generation)
            await self._transport.send(exchange, self._sink.send)

    async def _reinitialize(self, generation: int) -> None:
        """Replay the client's handshake on a fresh upstream session, once per expiry."""
        async with self._reinit_lock:
            if generation != self._generation:
                return
            self._ready = anyio.Event()
            _log.info("upstream.session_expired", action="re-initializing")
            try:
                self._transport.reset_session()
                for message, line in self._handshake:
                    await self._transport.send(Exchange.of(message, line), _discard)
                self._generation += 1
                _log.info("upstream.session_reinitialized")
            except ProxyError as exc:
                raise UpstreamError(f"session expired and re-initialization failed: {exc}") from exc
            finally:
                self._ready.set()

    async def _fail(self, exchange: Exchange, exc: ProxyError) -> None:
        message = exchange.message
        _log.warning(
            "bridge.exchange_failed",
            method=message.method,
            id=message.id,
            error=str(exc),
            unanswered=len(exchange.pending),
        )
        pending, exchange.pending = sorted(exchange.pending, key=str), set()
        for request_id in pending:
            await self._emit(_error_reply(request_id, exc))

    def _abort(self, request_id: JsonId) -> None:
        """Abort the local HTTP exchange of a request the client cancelled."""
        for flight in list(self._flights):
            if request_id in flight.exchange.pending:
                flight.exchange.pending.discard(request_id)
                if not flight.exchange.pending:
                    flight.scope.cancel()
                _log.info("bridge.request_cancelled", id=request_id)

    # -- lifecycle --------------------------------------------------------------

    def _begin(self, flight: _Flight) -> None:
        self._flights.add(flight)
        if self._idle.is_set():
            self._idle = anyio.Event()

    @contextmanager
    def _tracked(self, flight: _Flight) -> Iterator[None]:
        try:
            yield
        finally:
            self._flights.discard(flight)
            if not self._flights:
                self._idle.set()

    async def _drain(self) -> None:
        """Give in-flight exchanges the grace period; answer whatever is still open."""
        with self._grace, anyio.move_on_after(self._grace_s):
            await self._idle.wait()
        for flight in list(self._flights):
            pending, flight.exchange.pending = sorted(flight.exchange.pending, key=str), set()
            flight.scope.cancel()
            for request_id in pending:
                await self._emit(jsonrpc.transport_error(request_id, "the proxy is shutting down"))

    async def _emit(self, value: Any) -> None:
        await self._sink.send(jsonrpc.encode(value))


def _error_reply(request_id: JsonId, exc: ProxyError) -> dict[str, Any]:
    # The client (and the model behind it) sees this text: a server that echoes a
    # token or secret in an error must not hand it over, so it is masked as in logs.
    if isinstance(exc, UpstreamStatusError):
        body = redact_text(exc.body[: jsonrpc.ERROR_BODY_LIMIT * 4])
        return jsonrpc.upstream_status_error(request_id, exc.status, body)
    if isinstance(exc, SessionExpiredError):
        return jsonrpc.upstream_status_error(request_id, 404, "upstream session expired")
    return jsonrpc.transport_error(request_id, redact_text(str(exc)))


async def _discard(line: bytes) -> None:
    """Swallow the upstream's answers to a replayed handshake."""
    _log.debug("upstream.replay_answer_discarded", size=len(line))


__all__ = ["DEFAULT_GRACE_S", "Bridge", "MessageSink"]
