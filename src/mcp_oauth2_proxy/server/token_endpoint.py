"""The token endpoint (RFC 6749 §3.2, §5) and the revocation endpoint (RFC 7009)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import log
from .clients import SUPPORTED_GRANT_TYPES
from .events import annotate
from .failures import REVOKE, TOKEN
from .http import NO_STORE, OAuthProtocolError, json_no_store, oauth_error_response, read_form
from .models import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    IssuedTokens,
    RegisteredClient,
)

if TYPE_CHECKING:
    from .authorization_server import AuthorizationServer

_log = log.get_logger(__name__)


def routes(server: AuthorizationServer) -> list[BaseRoute]:
    """Return the token and revocation routes."""
    prefix = server.path_prefix

    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
        except OAuthProtocolError as exc:
            return oauth_error_response(exc)
        grant_type = form.get("grant_type")
        annotate(request, grant_type=grant_type)
        injected = await server.failures.intercept(TOKEN, grant_type=grant_type)
        if injected is not None:
            annotate(request, injected="failure")
            return injected
        try:
            client = await _authenticate(server, request, form)
            annotate(request, client_id=client.client_id)
            issued = await _grant(server, client, grant_type, form)
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            _log.info("server.token_refused", grant_type=grant_type, error=exc.error)
            return oauth_error_response(exc)
        annotate(request, scope=" ".join(sorted(issued.scopes)), refresh=bool(issued.refresh_token))
        return json_no_store(issued.response_body())

    async def revoke(request: Request) -> Response:
        injected = await server.failures.intercept(REVOKE)
        if injected is not None:
            return injected
        try:
            form = await read_form(request)
            client = await _authenticate(server, request, form)
            annotate(request, client_id=client.client_id, hint=form.get("token_type_hint"))
            await server.tokens.revoke(client, form.get("token"))
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            return oauth_error_response(exc)
        return Response(status_code=200, headers=NO_STORE)

    return [
        Route(f"{prefix}/token", token, methods=["POST"]),
        Route(f"{prefix}/revoke", revoke, methods=["POST"]),
    ]


async def _authenticate(
    server: AuthorizationServer, request: Request, form: dict[str, str]
) -> RegisteredClient:
    return await server.authenticate(request.headers.get("authorization"), form)


async def _grant(
    server: AuthorizationServer,
    client: RegisteredClient,
    grant_type: str | None,
    form: dict[str, str],
) -> IssuedTokens:
    tokens = server.tokens
    if grant_type is None:
        raise OAuthProtocolError("invalid_request", "grant_type is required")
    if grant_type not in SUPPORTED_GRANT_TYPES:
        raise OAuthProtocolError(
            "unsupported_grant_type", f"grant_type {grant_type} is not supported"
        )
    if grant_type not in client.grant_types:
        raise OAuthProtocolError("unauthorized_client", f"client may not use {grant_type}")
    if grant_type == GRANT_AUTHORIZATION_CODE:
        return await tokens.exchange_code(
            client,
            code=form.get("code"),
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
            resource=form.get("resource"),
        )
    if grant_type == GRANT_REFRESH_TOKEN:
        return await tokens.refresh(
            client,
            refresh_token=form.get("refresh_token"),
            scope=form.get("scope"),
            resource=form.get("resource"),
        )
    if grant_type == GRANT_CLIENT_CREDENTIALS:
        return await tokens.client_credentials(
            client, scope=form.get("scope"), resource=form.get("resource")
        )
    assert grant_type == GRANT_DEVICE_CODE  # noqa: S101 - the supported list is exhausted
    return await tokens.poll_device(client, device_code=form.get("device_code"))


__all__ = ["routes"]
