"""Dynamic client registration (RFC 7591): the request, the response, and when to redo it.

Pure builders and parsers plus one small sending function. A registration is
kept as a :class:`Registration` value and stored as a plain entry beside the
tokens (see :mod:`.identity`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from ..errors import AuthError
from ..log import get_logger, register_secret
from .fetch import MAX_METADATA_BYTES, TOKEN_TIMEOUT_SECONDS, make_request, send_bounded
from .grants import DEVICE_CODE_GRANT
from .models import ClientRegistrationResponse

log = get_logger(__name__)
CLIENT_NAME = "mcp-oauth2-proxy"
ENTRY_VERSION = 1


@dataclass(frozen=True)
class Registration:
    """A client the authorization server registered for us (RFC 7591 §3.2.1).

    ``secret_expires_at`` is wall-clock seconds, 0 or None for never.
    """

    client_id: str
    client_secret: str | None = None
    auth_method: str | None = None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    secret_expires_at: int | None = None

    def to_entry(self) -> dict[str, Any]:
        """The JSON entry kept in the token store."""
        return {
            "version": ENTRY_VERSION,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_endpoint_auth_method": self.auth_method,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": list(self.grant_types),
            "client_secret_expires_at": self.secret_expires_at,
            "saved_at": int(time.time()),
        }

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Registration | None:
        """Read a stored entry back; None when it is not a usable registration."""
        try:
            parsed = ClientRegistrationResponse.model_validate(entry)
        except ValidationError:
            return None
        return _from_response(parsed)


def grant_types_for(grant: str) -> tuple[str, ...]:
    """The ``grant_types`` to register for the configured grant, always with refresh."""
    if grant == "device_code":
        return (DEVICE_CODE_GRANT, "refresh_token")
    if grant == "client_credentials":
        return ("client_credentials",)
    return ("authorization_code", "refresh_token")


def port_agnostic(redirect_uri: str) -> str:
    """Drop the port of a loopback redirect URI (RFC 8252 §7.3: any port must be accepted)."""
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, shown, parts.path, parts.query, ""))


def registration_metadata(
    *,
    grant: str,
    redirect_uri: str | None,
    auth_method: str,
    scope: str | None = None,
    jwks: Mapping[str, Any] | None = None,
    software_version: str | None = None,
) -> dict[str, Any]:
    """Client metadata for the registration request (RFC 7591 §2, RFC 8252 §8.4 native apps)."""
    grant_types = grant_types_for(grant)
    meta: dict[str, Any] = {
        "client_name": CLIENT_NAME,
        "software_id": CLIENT_NAME,
        "application_type": "native",
        "grant_types": list(grant_types),
        "response_types": ["code"] if "authorization_code" in grant_types else [],
        "token_endpoint_auth_method": auth_method,
    }
    if redirect_uri and "authorization_code" in grant_types:
        meta["redirect_uris"] = [redirect_uri]
    if software_version:
        meta["software_version"] = software_version
    if scope:
        meta["scope"] = scope
    if jwks is not None:
        meta["jwks"] = dict(jwks)
    return meta


def build_registration_request(endpoint: str, metadata: Mapping[str, Any]) -> httpx.Request:
    """Return the POST of ``metadata`` as JSON to the registration endpoint (RFC 7591 §3.1)."""
    return make_request(
        "POST",
        endpoint,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        content=json.dumps(metadata, separators=(",", ":")).encode("utf-8"),
        timeout=TOKEN_TIMEOUT_SECONDS,
    )


def parse_registration_response(status: int, body: bytes, *, url: str) -> Registration:
    """Parse a client information response (RFC 7591 §3.2.1) or error response (§3.2.2).

    Raises:
        AuthError: the server refused the registration or answered unusably.

    """
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    if status not in (200, 201) or "error" in data:
        error = str(data.get("error") or f"HTTP {status}")
        desc = data.get("error_description")
        raise AuthError(
            f"the authorization server refused to register this client: {error}"
            + (f" ({desc})" if desc else "")
            + "; register a client yourself and set OAUTH2_CLIENT_ID",
            error=error if "error" in data else None,
            error_description=str(desc) if desc else None,
            url=url,
        )
    try:
        parsed = ClientRegistrationResponse.model_validate(data)
    except ValidationError:
        raise AuthError("the registration endpoint answered without a client_id", url=url) from None
    return _from_response(parsed)


def _from_response(parsed: ClientRegistrationResponse) -> Registration:
    return Registration(
        client_id=parsed.client_id,
        client_secret=parsed.client_secret or None,
        auth_method=parsed.token_endpoint_auth_method,
        redirect_uris=parsed.redirect_uris,
        grant_types=parsed.grant_types,
        secret_expires_at=parsed.client_secret_expires_at,
    )


def registration_fits(
    reg: Registration, *, grant: str, redirect_uri: str | None, now: float
) -> bool:
    """Tell whether a stored registration still serves this configuration.

    It must list the redirect URI (when the grant uses one) and the grant
    type (when the server echoed grant types), and its secret must not have
    expired.
    """
    wanted = grant_types_for(grant)
    if reg.grant_types and wanted[0] not in reg.grant_types:
        return False
    if "authorization_code" in wanted and redirect_uri and redirect_uri not in reg.redirect_uris:
        return False
    expires = reg.secret_expires_at
    return not (reg.client_secret and expires and expires <= now)


async def register_client(
    http: httpx.AsyncClient, endpoint: str, metadata: Mapping[str, Any]
) -> Registration:
    """Send the registration request and return the new client.

    Raises:
        AuthError: the endpoint was unreachable or refused.

    """
    request = build_registration_request(endpoint, metadata)
    try:
        fetched = await send_bounded(
            http, request, max_bytes=MAX_METADATA_BYTES, deadline=TOKEN_TIMEOUT_SECONDS * 2
        )
    except httpx.HTTPError as exc:
        raise AuthError(
            f"cannot reach the registration endpoint {endpoint}: {type(exc).__name__}: {exc}",
            url=endpoint,
        ) from exc
    reg = parse_registration_response(fetched.status, fetched.body, url=endpoint)
    register_secret(reg.client_secret)
    log.info(
        "oauth.client_registered",
        endpoint=endpoint,
        client_id=reg.client_id,
        auth_method=reg.auth_method,
    )
    return reg


__all__ = [
    "CLIENT_NAME",
    "Registration",
    "build_registration_request",
    "grant_types_for",
    "parse_registration_response",
    "port_agnostic",
    "register_client",
    "registration_fits",
    "registration_metadata",
]
