"""The device authorization grant (RFC 8628): the endpoint and the verification pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .approval import ConsentRequest, Decision
from .authorize import CSRF_COOKIE_PREFIX, set_csrf_cookie
from .events import annotate
from .failures import DEVICE_AUTHORIZATION
from .grants import normalize_user_code
from .http import OAuthProtocolError, json_no_store, oauth_error_response, parse_form, read_form
from .models import DeviceState
from .pages import consent_page, device_entry_page, message_page

if TYPE_CHECKING:
    from .authorization_server import AuthorizationServer


def routes(server: AuthorizationServer) -> list[BaseRoute]:
    """Return the device authorization endpoint and the verification pages."""
    prefix = server.path_prefix
    verification_path = f"{prefix}/device"

    async def device_authorization(request: Request) -> Response:
        injected = await server.failures.intercept(DEVICE_AUTHORIZATION)
        if injected is not None:
            return injected
        try:
            form = await read_form(request)
            client = await server.authenticate(request.headers.get("authorization"), form)
            scopes = server.tokens.resolve_scopes(form.get("scope"), client)
            resources = server.tokens.resolve_resources(form.get("resource"))
            device_code, device = await server.tokens.start_device(
                client, scopes=scopes, resources=resources
            )
        except OAuthProtocolError as exc:
            annotate(request, error=exc.error)
            return oauth_error_response(exc)
        consent = ConsentRequest("device_code", client, scopes, resources)
        decision = await server.approval.decide(consent)
        if decision is not Decision.ASK:
            await server.tokens.decide_device(
                device.user_code,
                approve=decision is Decision.APPROVE,
                subject=server.settings.subject,
            )
        annotate(request, client_id=client.client_id, user_code=device.user_code)
        uri = server.settings.endpoint("/device")
        return json_no_store(
            {
                "device_code": device_code,
                "user_code": device.user_code,
                "verification_uri": uri,
                "verification_uri_complete": f"{uri}?user_code={device.user_code}",
                "expires_in": server.settings.device_code_ttl,
                "interval": device.interval,
            }
        )

    async def verification(request: Request) -> Response:
        raw = request.query_params.get("user_code")
        if not raw:
            return device_entry_page(verification_path)
        device = await server.storage.find_device_by_user_code(normalize_user_code(raw))
        if (
            device is None
            or device.state is not DeviceState.PENDING
            or device.expires_at <= server.clock.now()
        ):
            return device_entry_page(verification_path, "That code is unknown or expired.", 400)
        client = await server.find_client(device.client_id)
        if client is None:
            return device_entry_page(verification_path, "That code is unknown or expired.", 400)
        pending = server.open_consent(
            ConsentRequest("device_code", client, device.scopes, device.resources),
            user_code=device.user_code,
        )
        response = consent_page(
            action=f"{verification_path}/decision",
            client_name=client.display_name,
            client_id=client.client_id,
            subject=server.settings.subject,
            scopes=device.scopes,
            resources=device.resources,
            hidden={"consent": pending.consent_id, "csrf": pending.csrf},
        )
        set_csrf_cookie(server, response, pending, path=verification_path)
        return response

    async def decision(request: Request) -> Response:
        try:
            form = parse_form(await request.body())
        except OAuthProtocolError:
            return message_page("Device sign-in failed", "Malformed request.", 400)
        consent_id, csrf = form.get("consent", ""), form.get("csrf", "")
        cookie = request.cookies.get(CSRF_COOKIE_PREFIX + consent_id[:16])
        pending = server.take_consent(consent_id, csrf) if cookie == csrf else None
        if pending is None or pending.user_code is None:
            return message_page("Device sign-in failed", "This request expired.", 400)
        approve = form.get("decision") == "approve"
        done = await server.tokens.decide_device(
            pending.user_code, approve=approve, subject=server.settings.subject
        )
        annotate(request, consent="approved by user" if approve else "denied by user")
        if not done:
            return message_page("Device sign-in failed", "This code expired.", 400)
        title = "Device approved" if approve else "Device denied"
        return message_page(title, "You can close this window and return to the application.")

    return [
        Route(f"{prefix}/device_authorization", device_authorization, methods=["POST"]),
        Route(verification_path, verification, methods=["GET"]),
        Route(f"{verification_path}/decision", decision, methods=["POST"]),
    ]


__all__ = ["routes"]
