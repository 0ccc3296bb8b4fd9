"""Client authentication at the token, revocation and device endpoints (RFC 6749 §2.3).

Supports ``client_secret_basic`` (id and secret form-encoded, then Base64),
``client_secret_post``, ``private_key_jwt`` (RFC 7523 §2.2) and ``none`` for
public clients. A failure is
``invalid_client`` with status 401, plus a ``WWW-Authenticate: Basic`` challenge
when the client tried Basic (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from .client_assertion import ASSERTION_TYPE, AssertionVerifier, assertion_subject
from .http import OAuthProtocolError
from .models import PRIVATE_KEY_JWT, PUBLIC_AUTH_METHOD, RegisteredClient

ClientLookup = Callable[[str], Awaitable[RegisteredClient | None]]


@dataclass(frozen=True)
class PresentedCredentials:
    """What the request offered as client credentials."""

    client_id: str | None
    secret: str | None
    method: str
    assertion: str | None = None


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Decode an HTTP Basic ``Authorization`` value into (client_id, secret), form-decoded."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid_client("malformed Basic credentials", basic=True) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("malformed Basic credentials", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)


def presented_credentials(
    authorization: str | None, form: Mapping[str, str]
) -> PresentedCredentials:
    """Work out which authentication method the request used, refusing mixtures."""
    if "client_assertion" in form or "client_assertion_type" in form:
        return _assertion_credentials(authorization, form)
    basic = parse_basic(authorization)
    if basic is not None:
        if "client_secret" in form:
            raise OAuthProtocolError("invalid_request", "use one client authentication method")
        if form.get("client_id", basic[0]) != basic[0]:
            raise OAuthProtocolError("invalid_request", "client_id differs from Basic credentials")
        return PresentedCredentials(basic[0], basic[1], "client_secret_basic")
    if "client_secret" in form:
        return PresentedCredentials(
            form.get("client_id"), form["client_secret"], "client_secret_post"
        )
    return PresentedCredentials(form.get("client_id"), None, PUBLIC_AUTH_METHOD)


def _assertion_credentials(
    authorization: str | None, form: Mapping[str, str]
) -> PresentedCredentials:
    assertion = form.get("client_assertion")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
        raise _invalid_client("client_assertion_type must be jwt-bearer with a client_assertion")
    if authorization or "client_secret" in form:
        raise OAuthProtocolError("invalid_request", "use one client authentication method")
    client_id = form.get("client_id") or assertion_subject(assertion)
    return PresentedCredentials(client_id, None, PRIVATE_KEY_JWT, assertion)


async def authenticate_client(
    authorization: str | None,
    form: Mapping[str, str],
    lookup: ClientLookup,
    *,
    strict_method: bool = True,
    assertions: AssertionVerifier | None = None,
) -> RegisteredClient:
    """Return the authenticated client or raise ``invalid_client`` (RFC 6749 §2.3)."""
    creds = presented_credentials(authorization, form)
    basic = creds.method == "client_secret_basic"
    if not creds.client_id:
        raise _invalid_client("client authentication required", basic=basic)
    client = await lookup(creds.client_id)
    if client is None:
        raise _invalid_client("unknown client", basic=basic)
    if creds.assertion is not None:
        if client.token_endpoint_auth_method != PRIVATE_KEY_JWT or assertions is None:
            raise _invalid_client("client is not registered for private_key_jwt")
        assertions.verify(creds.assertion, client.client_id, client.jwks)
        return client
    if client.token_endpoint_auth_method == PRIVATE_KEY_JWT:
        raise _invalid_client("client must authenticate with private_key_jwt", basic=basic)
    if client.is_public:
        if creds.secret is not None:
            raise _invalid_client("public clients have no secret", basic=basic)
        return client
    if creds.secret is None or client.client_secret is None:
        raise _invalid_client("client secret required", basic=basic)
    if not hmac.compare_digest(creds.secret.encode(), client.client_secret.encode()):
        raise _invalid_client("wrong client secret", basic=basic)
    if strict_method and creds.method != client.token_endpoint_auth_method:
        raise _invalid_client(
            f"client must authenticate with {client.token_endpoint_auth_method}", basic=basic
        )
    return client


def _invalid_client(description: str, *, basic: bool = False) -> OAuthProtocolError:
    headers = {"WWW-Authenticate": 'Basic realm="token"'} if basic else None
    return OAuthProtocolError("invalid_client", description, status=401, headers=headers)


__all__ = ["PresentedCredentials", "authenticate_client", "parse_basic", "presented_credentials"]
