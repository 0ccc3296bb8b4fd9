"""Discovery documents (RFC 8414, OpenID Connect Discovery) and registration (RFC 7591)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import log
from .clients import register_client, registration_response
from .events import annotate
from .failures import METADATA, REGISTER
from .http import OAuthProtocolError, json_no_store, oauth_error_response

if TYPE_CHECKING:
    from .authorization_server import AuthorizationServer

_log = log.get_logger(__name__)
_CORS = {"Access-Control-Allow-Origin": "*"}


def metadata_paths(prefix: str) -> list[str]:
    """Return every well-known path the metadata is served at for an issuer path ``prefix``.

    RFC 8414 §3.1 inserts the well-known segment before the issuer's path; OpenID
    Connect Discovery appends it, and clients try both (MCP authorization).
    """
    paths = [
        f"/.well-known/oauth-authorization-server{prefix}",
        f"/.well-known/openid-configuration{prefix}",
    ]
    if prefix:
        paths.append(f"{prefix}/.well-known/openid-configuration")
    return paths


def routes(server: AuthorizationServer) -> list[BaseRoute]:
    """Return the discovery and registration routes."""

    async def metadata(_request: Request) -> Response:
        injected = await server.failures.intercept(METADATA)
        return injected or JSONResponse(server.metadata(), headers=_CORS)

    async def register(request: Request) -> Response:
        injected = await server.failures.intercept(REGISTER)
        if injected is not None:
            return injected
        try:
            body = _json_object(await request.body())
            client = register_client(
                body,
                scopes_supported=server.settings.scopes_supported,
                issued_at=int(server.clock.now()),
            )
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            return oauth_error_response(exc)
        await server.clients.add(client)
        annotate(request, client_id=client.client_id, auth_method=client.token_endpoint_auth_method)
        _log.info("server.client_registered", client_id=client.client_id)
        return json_no_store(registration_response(client), status=201)

    out: list[BaseRoute] = [
        Route(path, metadata, methods=["GET"]) for path in metadata_paths(server.path_prefix)
    ]
    if server.settings.allow_dynamic_registration:
        out.append(Route(f"{server.path_prefix}/register", register, methods=["POST"]))
    return out


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise OAuthProtocolError("invalid_client_metadata", "body is not JSON") from exc
    if not isinstance(body, dict):
        raise OAuthProtocolError("invalid_client_metadata", "body must be a JSON object")
    return body


__all__ = ["metadata_paths", "routes"]
