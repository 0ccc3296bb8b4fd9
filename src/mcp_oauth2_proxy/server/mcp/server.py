"""MCP method handling and sessions for the demo server, independent of HTTP.

Negotiates the protocol revision in ``initialize`` (2025-11-25, 2025-06-18,
2025-03-26; anything else gets the latest), keeps one :class:`Session` per
``Mcp-Session-Id``, and answers ping, tools, resources and prompts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from ... import __version__
from ..clock import Clock, SystemClock
from ..models import new_secret
from ..verifier import TokenInfo
from .catalog import Catalog, ToolContext, ToolInputError, demo_catalog
from .jsonrpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    RequestId,
    RpcError,
    notification,
    result,
)

SUPPORTED_PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0]
_STRUCTURED_SINCE = "2025-06-18"  # structuredContent / outputSchema / titles
INSTRUCTIONS = "A demo server behind OAuth. Call whoami to see the token's identity."

Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Session:
    """One client connection, identified by its ``Mcp-Session-Id``."""

    session_id: str
    protocol_version: str
    client_info: Mapping[str, Any]
    created_at: float
    initialized: bool = False
    inflight: dict[RequestId, anyio.CancelScope] = field(default_factory=dict)

    @property
    def structured(self) -> bool:
        """True when the negotiated revision has structured tool output."""
        return self.protocol_version >= _STRUCTURED_SINCE


def negotiate(requested: object) -> str:
    """Return the revision to use for a client that asked for ``requested``."""
    if isinstance(requested, str) and requested in SUPPORTED_PROTOCOL_VERSIONS:
        return requested
    return LATEST_PROTOCOL_VERSION


class McpServer:
    """The demo server's protocol logic and session table."""

    def __init__(
        self,
        *,
        catalog: Catalog | None = None,
        clock: Clock | None = None,
        name: str = "mcp-oauth2-proxy-demo",
        version: str = __version__,
    ) -> None:
        self.catalog = catalog or demo_catalog()
        self.clock: Clock = clock or SystemClock()
        self.name = name
        self.version = version
        self.sessions: dict[str, Session] = {}

    # -- sessions -------------------------------------------------------------------

    def initialize(
        self, request_id: RequestId, params: Mapping[str, Any]
    ) -> tuple[Session, dict[str, Any]]:
        """Start a session; return it and the ``initialize`` response."""
        info = params.get("clientInfo")
        session = Session(
            session_id=new_secret(24),
            protocol_version=negotiate(params.get("protocolVersion")),
            client_info=info if isinstance(info, dict) else {},
            created_at=self.clock.now(),
        )
        self.sessions[session.session_id] = session
        body = {
            "protocolVersion": session.protocol_version,
            "capabilities": {
                "tools": {"listChanged": False},
                "resources": {"listChanged": False, "subscribe": False},
                "prompts": {"listChanged": False},
            },
            "serverInfo": {
                "name": self.name,
                "title": "mcp-oauth2-proxy demo",
                "version": self.version,
            },
            "instructions": INSTRUCTIONS,
        }
        return session, result(request_id, body)

    def get_session(self, session_id: str | None) -> Session | None:
        """Return a live session."""
        return self.sessions.get(session_id) if session_id else None

    def end_session(self, session_id: str) -> bool:
        """End a session and cancel its in-flight requests; False when unknown."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        for scope in session.inflight.values():
            scope.cancel()
        return True

    def drop_sessions(self) -> None:
        """Forget every session, as a restarted server would (clients then get 404)."""
        for session_id in list(self.sessions):
            self.end_session(session_id)

    # -- messages -------------------------------------------------------------------

    def streams(self, message: Mapping[str, Any]) -> bool:
        """True when the request is answered on an SSE stream (it reports progress)."""
        if message.get("method") != "tools/call":
            return False
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        tool = self.catalog.by_name.get(name) if isinstance(name, str) else None
        return bool(tool and tool.streams)

    def handle_notification(self, session: Session, message: Mapping[str, Any]) -> None:
        """Act on a client notification (initialized, cancelled); others are ignored."""
        method = message.get("method")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "notifications/initialized":
            session.initialized = True
        elif method == "notifications/cancelled":
            scope = session.inflight.get(params.get("requestId"))  # type: ignore[union-attr, arg-type]
            if scope is not None:
                scope.cancel()

    async def handle_request(
        self,
        session: Session,
        message: Mapping[str, Any],
        *,
        token: TokenInfo | None = None,
        emit: Emit | None = None,
    ) -> dict[str, Any]:
        """Answer one request (raises :class:`RpcError` for protocol errors)."""
        request_id: RequestId = message["id"]
        params = message.get("params") or {}
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "params must be an object")
        method = message["method"]
        if method == "ping":
            return result(request_id, {})
        if method == "tools/call":
            return result(request_id, await self._call_tool(session, params, token, emit))
        handler = self._simple.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
        return result(request_id, handler(self, session, params))

    async def _call_tool(
        self,
        session: Session,
        params: Mapping[str, Any],
        token: TokenInfo | None,
        emit: Emit | None,
    ) -> dict[str, Any]:
        name = params.get("name")
        tool = self.catalog.by_name.get(name) if isinstance(name, str) else None
        if tool is None:
            raise RpcError(INVALID_PARAMS, f"unknown tool: {name}")
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "arguments must be an object")
        context = ToolContext(self.clock, token, _progress_reporter(params, emit))
        try:
            output = await tool.handler(context, arguments)
        except ToolInputError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        return output.as_result(structured=session.structured)

    def _tools_list(self, session: Session, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"tools": [t.describe(structured=session.structured) for t in self.catalog.tools]}

    def _resources_list(self, _session: Session, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"resources": [r.describe() for r in self.catalog.resources]}

    def _templates_list(self, _session: Session, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"resourceTemplates": []}

    def _resources_read(self, _session: Session, params: Mapping[str, Any]) -> dict[str, Any]:
        uri = params.get("uri")
        for res in self.catalog.resources:
            if res.uri == uri:
                return {"contents": [{"uri": res.uri, "mimeType": res.mime_type, "text": res.text}]}
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found", {"uri": uri})

    def _prompts_list(self, _session: Session, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"prompts": [p.describe() for p in self.catalog.prompts]}

    def _prompts_get(self, _session: Session, params: Mapping[str, Any]) -> dict[str, Any]:
        prompt = next((p for p in self.catalog.prompts if p.name == params.get("name")), None)
        if prompt is None:
            raise RpcError(INVALID_PARAMS, f"unknown prompt: {params.get('name')}")
        raw = params.get("arguments") or {}
        args = {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}
        missing = [n for n, _d, required in prompt.arguments if required and n not in args]
        if missing:
            raise RpcError(INVALID_PARAMS, f"missing prompt arguments: {', '.join(missing)}")
        text = prompt.render(args)
        return {
            "description": prompt.description,
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        }

    _simple: Mapping[str, Callable[[McpServer, Session, Mapping[str, Any]], dict[str, Any]]] = {
        "tools/list": _tools_list,
        "resources/list": _resources_list,
        "resources/templates/list": _templates_list,
        "resources/read": _resources_read,
        "prompts/list": _prompts_list,
        "prompts/get": _prompts_get,
    }


def _progress_reporter(
    params: Mapping[str, Any], emit: Emit | None
) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    meta = params.get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None

    async def report(progress: float, total: float | None, message: str | None) -> None:
        if token is None or emit is None:
            return
        body: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            body["total"] = total
        if message:
            body["message"] = message
        await emit(notification("notifications/progress", body))

    return report


__all__ = [
    "LATEST_PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "Emit",
    "McpServer",
    "Session",
    "negotiate",
]
