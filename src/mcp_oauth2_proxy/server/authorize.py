"""The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1) and its consent page.

Problems with the client or its redirect URI are shown on an error page (never
redirected, RFC 6749 §4.1.2.1); every later problem goes back to the client's
redirect URI with ``error``, ``state`` and ``iss``. PKCE with S256 is required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .approval import ConsentRequest, Decision
from .clients import find_redirect_uri
from .events import annotate
from .failures import AUTHORIZE
from .http import OAuthProtocolError, parse_form, single_query
from .models import GRANT_AUTHORIZATION_CODE, RegisteredClient
from .pages import consent_page, message_page
from .pkce import is_valid_challenge

if TYPE_CHECKING:
    from .authorization_server import AuthorizationServer, PendingConsent

CSRF_COOKIE_PREFIX = "mcp_consent_"


@dataclass(frozen=True)
class _Target:
    """Where errors go once the client and redirect URI are known."""

    client: RegisteredClient
    redirect_uri: str
    redirect_uri_in_request: bool
    state: str | None


def routes(server: AuthorizationServer) -> list[BaseRoute]:
    """Return the authorization endpoint and the consent form's target."""
    prefix = server.path_prefix

    async def authorize(request: Request) -> Response:
        injected = await server.failures.intercept(AUTHORIZE)
        if injected is not None:
            return injected
        try:
            params = single_query(request)
            target = await _identify(server, params)
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            return message_page("Authorization failed", _reason(exc), status_code=400)
        annotate(request, client_id=target.client.client_id)
        try:
            consent = _consent_request(server, target, params)
            challenge = _pkce_challenge(params)
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            return _redirect(
                server.redirect_url(target.redirect_uri, exc.body(), state=target.state)
            )
        pending = server.open_consent(
            consent,
            state=target.state,
            code_challenge=challenge,
            redirect_uri_in_request=target.redirect_uri_in_request,
        )
        decision = await server.approval.decide(consent)
        if decision is Decision.ASK:
            annotate(request, consent="page shown")
            return _consent_page(server, pending, f"{prefix}/authorize/decision")
        server.take_consent(pending.consent_id)
        annotate(request, consent=f"{decision.value}d by policy")
        url = await server.finish_authorization(pending, approve=decision is Decision.APPROVE)
        return _redirect(url)

    async def decision(request: Request) -> Response:
        try:
            form = parse_form(await request.body())
        except OAuthProtocolError as exc:
            return message_page("Authorization failed", _reason(exc), status_code=400)
        consent_id = form.get("consent", "")
        csrf = form.get("csrf", "")
        cookie = request.cookies.get(CSRF_COOKIE_PREFIX + consent_id[:16])
        pending = server.take_consent(consent_id, csrf) if cookie == csrf else None
        if pending is None or pending.request.kind != "authorization_code":
            annotate(request, error="invalid_consent")
            return message_page(
                "Authorization failed", "This request expired or was already answered.", 400
            )
        approve = form.get("decision") == "approve"
        annotate(request, consent="approved by user" if approve else "denied by user")
        url = await server.finish_authorization(pending, approve=approve)
        response = _redirect(url, status=303)
        response.delete_cookie(CSRF_COOKIE_PREFIX + consent_id[:16], path=f"{prefix}/authorize")
        return response

    return [
        Route(f"{prefix}/authorize", authorize, methods=["GET"]),
        Route(f"{prefix}/authorize/decision", decision, methods=["POST"]),
    ]


async def _identify(server: AuthorizationServer, params: dict[str, str]) -> _Target:
    client_id = params.get("client_id")
    if not client_id:
        raise OAuthProtocolError("invalid_request", "client_id is required")
    client = await server.find_client(client_id)
    if client is None:
        raise OAuthProtocolError("invalid_client", "unknown client_id")
    requested = params.get("redirect_uri")
    redirect_uri = find_redirect_uri(client, requested)
    return _Target(client, redirect_uri, requested is not None, params.get("state"))


def _consent_request(
    server: AuthorizationServer, target: _Target, params: dict[str, str]
) -> ConsentRequest:
    if params.get("response_type") != "code":
        raise OAuthProtocolError("unsupported_response_type", "only response_type=code")
    if GRANT_AUTHORIZATION_CODE not in target.client.grant_types:
        raise OAuthProtocolError("unauthorized_client", "client may not use authorization codes")
    return ConsentRequest(
        kind="authorization_code",
        client=target.client,
        scopes=server.tokens.resolve_scopes(params.get("scope"), target.client),
        resources=server.tokens.resolve_resources(params.get("resource")),
        redirect_uri=target.redirect_uri,
    )


def _pkce_challenge(params: dict[str, str]) -> str:
    challenge = params.get("code_challenge")
    if not challenge:
        raise OAuthProtocolError("invalid_request", "code_challenge is required (PKCE)")
    # An absent method means "plain" (RFC 7636 §4.3), which OAuth 2.1 servers refuse.
    if params.get("code_challenge_method") != "S256":
        raise OAuthProtocolError("invalid_request", "code_challenge_method must be S256")
    if not is_valid_challenge(challenge):
        raise OAuthProtocolError("invalid_request", "malformed code_challenge")
    return challenge


def _consent_page(server: AuthorizationServer, pending: PendingConsent, action: str) -> Response:
    request = pending.request
    response = consent_page(
        action=action,
        client_name=request.client.display_name,
        client_id=request.client.client_id,
        subject=server.settings.subject,
        scopes=request.scopes,
        resources=request.resources,
        hidden={"consent": pending.consent_id, "csrf": pending.csrf},
        redirect_uri=request.redirect_uri,
    )
    set_csrf_cookie(server, response, pending, path=f"{server.path_prefix}/authorize")
    return response


def set_csrf_cookie(
    server: AuthorizationServer, response: Response, pending: PendingConsent, *, path: str
) -> None:
    """Bind a consent form to this browser (double-submit cookie, SameSite=Strict)."""
    response.set_cookie(
        CSRF_COOKIE_PREFIX + pending.consent_id[:16],
        pending.csrf,
        max_age=600,
        path=path,
        secure=server.settings.issuer.startswith("https://"),
        httponly=True,
        samesite="strict",
    )


def _redirect(url: str, status: int = 302) -> RedirectResponse:
    return RedirectResponse(url, status_code=status, headers={"Cache-Control": "no-store"})


def _reason(exc: OAuthProtocolError) -> str:
    return exc.description or exc.error


__all__ = ["CSRF_COOKIE_PREFIX", "routes", "set_csrf_cookie"]
