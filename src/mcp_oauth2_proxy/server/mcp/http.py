"""The Streamable HTTP transport of the demo MCP server (MCP 2025-03-26 … 2025-11-25).

POST carries client messages: requests are answered with JSON, or with an SSE
stream for tools that report progress; notifications and responses get 202.
``initialize`` creates a session whose id travels in ``Mcp-Session-Id``; other
requests without it get 400, with an unknown one 404. DELETE ends a session.
GET answers 405: this server never opens a stream of its own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ...urls import is_loopback_host, url_host
from ..events import annotate
from ..failures import MCP, FailureInjector
from ..gate import token_info
from .jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    check_message,
    error,
    is_request,
)
from .server import SUPPORTED_PROTOCOL_VERSIONS, McpServer, Session

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
_BATCH_VERSION = "2025-03-26"  # the only revision with JSON-RPC batches


class SseResponse:
    """An SSE response whose events are produced by ``produce(emit)``.

    If the client disconnects, production is cancelled.
    """

    def __init__(
        self,
        produce: Callable[[Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.produce = produce
        self.headers = headers or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        """Send headers, then one ``message`` event per emitted JSON-RPC message."""
        raw = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        raw += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})

        async def emit(message: dict[str, Any]) -> None:
            data = json.dumps(message, separators=(",", ":"))
            chunk = f"event: message\ndata: {data}\n\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            await self.produce(emit)
            group.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _rpc_error_response(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(error(None, code, message), status_code=status)


class McpHttpApp:
    """Starlette app serving an :class:`McpServer` at ``path``."""

    def __init__(
        self,
        server: McpServer,
        *,
        path: str = "/mcp",
        allowed_origins: Iterable[str] = (),
        failures: FailureInjector | None = None,
    ) -> None:
        self.server = server
        self.path = path
        self.allowed_origins = frozenset(allowed_origins)
        self.failures = failures or FailureInjector()
        self.app: ASGIApp = Starlette(
            routes=[Route(path, self._endpoint, methods=["GET", "POST", "DELETE"])]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request."""
        await self.app(scope, receive, send)

    async def _endpoint(self, request: Request) -> Response | SseResponse:
        injected = await self.failures.intercept(MCP)
        if injected is not None:
            return injected
        if not self._origin_allowed(request.headers.get("origin")):
            return _rpc_error_response(403, INVALID_REQUEST, "origin not allowed")
        if request.method == "GET":
            return Response(status_code=405, headers={"Allow": "POST, DELETE"})
        if request.method == "DELETE":
            return self._delete(request)
        return await self._post(request)

    def _origin_allowed(self, origin: str | None) -> bool:
        # MCP transports must validate Origin against DNS rebinding.
        return (
            origin is None or origin in self.allowed_origins or is_loopback_host(url_host(origin))
        )

    def _delete(self, request: Request) -> Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return _rpc_error_response(400, INVALID_REQUEST, "Mcp-Session-Id header is required")
        annotate(request, rpc="session end")
        if not self.server.end_session(session_id):
            return _rpc_error_response(404, INVALID_REQUEST, "session not found")
        return Response(status_code=200)

    async def _post(self, request: Request) -> Response | SseResponse:
        problem = _check_headers(request)
        if problem is not None:
            return problem
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _rpc_error_response(400, PARSE_ERROR, "parse error")
        if isinstance(payload, list):
            return await self._batch(request, payload)
        try:
            message = check_message(payload)
        except RpcError as exc:
            return JSONResponse(error(_id_of(payload), exc.code, exc.message), status_code=400)
        annotate(request, rpc=_describe(message))
        if message.get("method") == "initialize" and is_request(message):
            return self._initialize(message)
        return await self._in_session(request, message)

    async def _in_session(
        self, request: Request, message: dict[str, Any]
    ) -> Response | SseResponse:
        session = self._session_for(request)
        if isinstance(session, Response):
            return session
        if not is_request(message):
            self.server.handle_notification(session, message)
            return Response(status_code=202)
        if self.server.streams(message):
            return self._stream(request, session, message)
        return JSONResponse(await self._answer(request, session, message))

    def _initialize(self, message: dict[str, Any]) -> Response:
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        session, response = self.server.initialize(message["id"], params or {})
        return JSONResponse(response, headers={"Mcp-Session-Id": session.session_id})

    def _session_for(self, request: Request) -> Session | Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return _rpc_error_response(400, INVALID_REQUEST, "Mcp-Session-Id header is required")
        session = self.server.get_session(session_id)
        if session is None:
            return _rpc_error_response(404, INVALID_REQUEST, "session not found")
        return session

    async def _answer(
        self, request: Request, session: Session, message: dict[str, Any], emit: Any = None
    ) -> dict[str, Any]:
        try:
            return await self.server.handle_request(
                session, message, token=token_info(request.scope), emit=emit
            )
        except RpcError as exc:
            return error(message["id"], exc.code, exc.message, exc.data)

    def _stream(self, request: Request, session: Session, message: dict[str, Any]) -> SseResponse:
        request_id = message["id"]

        async def produce(emit: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
            with anyio.CancelScope() as cancel:
                session.inflight[request_id] = cancel
                try:
                    response = await self._answer(request, session, message, emit)
                finally:
                    session.inflight.pop(request_id, None)
            if not cancel.cancelled_caught:  # a cancelled request gets no response
                await emit(response)

        return SseResponse(produce)

    async def _batch(self, request: Request, payload: list[Any]) -> Response:
        session = self._session_for(request)
        if isinstance(session, Response):
            return session
        if session.protocol_version != _BATCH_VERSION or not payload:
            return _rpc_error_response(400, INVALID_REQUEST, "batches are not supported here")
        annotate(request, rpc="batch")
        answers = []
        for item in payload:
            try:
                message = check_message(item)
            except RpcError as exc:
                answers.append(error(_id_of(item), exc.code, exc.message))
                continue
            if message.get("method") == "initialize":
                answers.append(
                    error(message.get("id"), INVALID_REQUEST, "initialize cannot be batched")
                )
            elif is_request(message):
                answers.append(await self._answer(request, session, message))
            else:
                self.server.handle_notification(session, message)
        return JSONResponse(answers) if answers else Response(status_code=202)


def _check_headers(request: Request) -> Response | None:
    accept = request.headers.get("accept", "")
    if "*/*" not in accept and not ("application/json" in accept and "text/event-stream" in accept):
        return _rpc_error_response(
            406, INVALID_REQUEST, "Accept must list application/json and text/event-stream"
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _rpc_error_response(415, INVALID_REQUEST, "Content-Type must be application/json")
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version not in SUPPORTED_PROTOCOL_VERSIONS:
        return _rpc_error_response(400, INVALID_REQUEST, f"unsupported protocol version {version}")
    return None


def _id_of(payload: object) -> Any:
    return payload.get("id") if isinstance(payload, dict) else None


def _describe(message: dict[str, Any]) -> str:
    method = message.get("method")
    if method == "tools/call":
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        return f"tools/call {name}"
    return str(method) if method else "response"


__all__ = ["SESSION_HEADER", "VERSION_HEADER", "McpHttpApp", "SseResponse"]
