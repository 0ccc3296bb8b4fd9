"""A protected-resource gate: OAuth bearer-token checks in front of any ASGI app.

It serves the RFC 9728 protected-resource metadata, answers requests without a
usable token with ``401`` and a ``WWW-Authenticate: Bearer`` challenge naming
that metadata and the required scope (RFC 6750 §3, MCP authorization), answers
``403 insufficient_scope`` when scopes are missing, and passes authorized
requests to the wrapped app with the :class:`~.verifier.TokenInfo` in the scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..urls import origin
from .events import annotate
from .resources import canonical_resource, resource_in
from .verifier import TokenInfo, TokenVerifier

PRM_PATH = "/.well-known/oauth-protected-resource"
TOKEN_INFO_KEY = "mcp_oauth2_proxy.token_info"  # noqa: S105 - a scope key, not a secret

# Extra scopes one request needs, given its method, path and body (see tool_scopes).
ScopePolicy = Callable[[str, str, bytes], frozenset[str]]


@dataclass(frozen=True)
class ProtectedResourceSettings:
    """What the gate protects and how it describes itself (RFC 9728 §2).

    Attributes:
        resource: the canonical URI of the protected endpoint (the MCP endpoint).
        authorization_servers: issuer identifiers clients may get tokens from.
        scopes_supported: scopes advertised in the metadata.
        required_scopes: scopes every request needs (also the 401 challenge's ``scope``).
        resource_name: human-readable name for the metadata.
        require_audience: refuse tokens that are not bound to ``resource`` (RFC 8707).
    """

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ("mcp",)
    required_scopes: tuple[str, ...] = ("mcp",)
    resource_name: str | None = None
    require_audience: bool = True

    @property
    def metadata_url(self) -> str:
        """The URL of the metadata document, by path insertion (RFC 9728 §3.1)."""
        path = urlsplit(self.resource).path.rstrip("/")
        return f"{origin(self.resource)}{PRM_PATH}{path}"

    def metadata(self) -> dict[str, Any]:
        """Return the protected-resource metadata document."""
        doc: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
            "scopes_supported": list(self.scopes_supported),
            "bearer_methods_supported": ["header"],
        }
        if self.resource_name:
            doc["resource_name"] = self.resource_name
        return doc


def bearer_challenge(
    settings: ProtectedResourceSettings,
    *,
    error: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] | None = None,
) -> str:
    """Build the ``WWW-Authenticate`` value (RFC 6750 §3, RFC 9728 §5.1)."""
    params: list[tuple[str, str]] = []
    if error:
        params.append(("error", error))
    if description:
        params.append(("error_description", description))
    params.append(("resource_metadata", settings.metadata_url))
    scope = " ".join(sorted(scopes if scopes is not None else settings.required_scopes))
    if scope:
        params.append(("scope", scope))
    return "Bearer " + ", ".join(f'{k}="{_quote(v)}"' for k, v in params)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def extract_bearer(authorization: str | None) -> str | None:
    """Return the token from an ``Authorization: Bearer`` value, or None (RFC 6750 §2.1)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def token_info(scope: Scope) -> TokenInfo | None:
    """Return the verified token the gate attached to an ASGI scope."""
    info = scope.get(TOKEN_INFO_KEY)
    return info if isinstance(info, TokenInfo) else None


def tool_scopes(required: Mapping[str, Iterable[str]]) -> ScopePolicy:
    """Return a policy requiring extra scopes for some MCP tools (``tools/call`` by name)."""
    table = {name: frozenset(scopes) for name, scopes in required.items()}

    def policy(method: str, _path: str, body: bytes) -> frozenset[str]:
        if method != "POST" or not table:
            return frozenset()
        try:
            message = json.loads(body)
        except ValueError:
            return frozenset()
        messages = message if isinstance(message, list) else [message]
        needed: frozenset[str] = frozenset()
        for item in messages:
            if isinstance(item, dict) and item.get("method") == "tools/call":
                params = item.get("params")
                name = params.get("name") if isinstance(params, dict) else None
                needed |= table.get(name, frozenset()) if isinstance(name, str) else frozenset()
        return needed

    return policy


class ProtectedResourceGate:
    """ASGI middleware that lets through only requests with a valid, sufficient token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: ProtectedResourceSettings,
        verifier: TokenVerifier,
        scope_policy: ScopePolicy | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.verifier = verifier
        self.scope_policy = scope_policy
        resource_path = urlsplit(settings.resource).path.rstrip("/")
        self._metadata_paths = {PRM_PATH, f"{PRM_PATH}{resource_path}"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve metadata, refuse unauthorized requests, pass the rest through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self._metadata_paths:
            await self._metadata(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":  # CORS preflights never carry credentials
            await self.app(scope, receive, send)
            return
        refusal, receive = await self._authorize(scope, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _metadata(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await Response(status_code=405, headers={"Allow": "GET"})(scope, receive, send)
            return
        response = JSONResponse(
            self.settings.metadata(), headers={"Access-Control-Allow-Origin": "*"}
        )
        await response(scope, receive, send)

    async def _authorize(self, scope: Scope, receive: Receive) -> tuple[Response | None, Receive]:
        token = extract_bearer(Headers(scope=scope).get("authorization"))
        if token is None:
            annotate(scope, auth="no token")
            return self._unauthorized(None, None), receive
        info = await self.verifier.verify(token)
        problem = self._token_problem(info)
        if info is None or problem is not None:
            annotate(scope, auth="invalid token")
            return self._unauthorized("invalid_token", problem), receive
        needed = frozenset(self.settings.required_scopes)
        if self.scope_policy is not None:
            body, receive = await _buffer_body(receive)
            needed |= self.scope_policy(scope["method"], scope["path"], body)
        missing = needed - info.scopes
        if missing:
            annotate(scope, auth="insufficient scope")
            return self._forbidden(needed | info.scopes), receive
        scope[TOKEN_INFO_KEY] = info
        annotate(scope, auth="ok", subject=info.subject)
        return None, receive

    def _token_problem(self, info: TokenInfo | None) -> str | None:
        if info is None:
            return "the access token is unknown, expired or revoked"
        if not self.settings.require_audience:
            return None
        if not resource_in(self.settings.resource, info.resources):
            return f"the access token is not for {canonical_resource(self.settings.resource)}"
        return None

    def _unauthorized(self, error: str | None, description: str | None) -> Response:
        body = {"error": error or "invalid_token", "error_description": description or ""}
        if error is None:
            body = {"error": "unauthorized", "error_description": "a bearer token is required"}
        challenge = bearer_challenge(self.settings, error=error, description=description)
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": challenge})

    def _forbidden(self, scopes: frozenset[str]) -> Response:
        description = "the access token lacks a required scope"
        challenge = bearer_challenge(
            self.settings, error="insufficient_scope", description=description, scopes=scopes
        )
        return JSONResponse(
            {"error": "insufficient_scope", "error_description": description},
            status_code=403,
            headers={"WWW-Authenticate": challenge},
        )


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body and return it with a ``receive`` that replays it."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


__all__ = [
    "PRM_PATH",
    "TOKEN_INFO_KEY",
    "ProtectedResourceGate",
    "ProtectedResourceSettings",
    "ScopePolicy",
    "bearer_challenge",
    "extract_bearer",
    "token_info",
    "tool_scopes",
]
