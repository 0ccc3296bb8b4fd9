"""Wire models for the OAuth documents the proxy reads: the trust boundary.

Field names are the RFCs' own. Unknown members are ignored (servers add
extensions); known members are type-checked so that nothing downstream has to
second-guess a server's JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from ..log import redact_text

MAX_SERVER_TEXT = 300
"""How much of a server-chosen string (``error``, ``error_description``) reaches a message."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def load_json(data: bytes | str) -> Any:
    """``json.loads`` for untrusted documents: every malformed input is a ``ValueError``.

    Nesting deep enough to exhaust the parser's recursion (a few hundred KB of
    ``[``) raises ``RecursionError`` in the standard library; here it is just
    another malformed document.
    """
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def server_text(value: object, limit: int = MAX_SERVER_TEXT) -> str:
    """A server-chosen string made fit for messages, logs and the terminal.

    Control and bidirectional-override characters (terminal escape sequences,
    forged log lines) become spaces, known secrets a server echoed are masked,
    and the result is cut to ``limit`` characters.
    """
    text = _CONTROL.sub(" ", str(value)).strip()
    text = redact_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_SECONDS = 10 * 365 * 24 * 3600
"""Longest duration taken from a server; beyond it, numbers only overflow clocks."""


def _int_from_text(value: object) -> object:
    """Accept ``"3600"`` as well as ``3600``: several providers send strings; cap absurd values."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return min(value, MAX_SECONDS)
    return value


def _lifetime(value: object) -> int | None:
    """An ``expires_in`` as a positive whole number of seconds, or None when unusable.

    The field is only RECOMMENDED (RFC 6749 §5.1): a token whose lifetime is
    missing, negative, zero, fractional nonsense or not a number is still a
    token; it is used until the upstream rejects it, instead of failing the
    login or refreshing on every request.
    """
    value = _int_from_text(value)
    if isinstance(value, float) and math.isfinite(value):
        value = min(int(value), MAX_SECONDS)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


Seconds = Annotated[int, BeforeValidator(_int_from_text), Field(ge=0)]
Lifetime = Annotated[int | None, BeforeValidator(_lifetime)]
BearerToken = Annotated[str, Field(min_length=1, pattern=r"^[\x21-\x7e]+$")]
"""Visible ASCII only: the value goes into an HTTP header (RFC 6750 §2.1 ``b64token``
is narrower still), so CR, LF or non-ASCII could never be sent safely."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProtectedResourceMetadata(_Wire):
    """RFC 9728 §2: OAuth 2.0 protected-resource metadata."""

    resource: str
    authorization_servers: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    bearer_methods_supported: tuple[str, ...] = ()
    resource_name: str | None = None


class AuthorizationServerMetadata(_Wire):
    """RFC 8414 §2 (and OpenID Connect Discovery): authorization-server metadata."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    registration_endpoint: str | None = None
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    scopes_supported: tuple[str, ...] = ()
    response_types_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    authorization_response_iss_parameter_supported: bool = False
    client_id_metadata_document_supported: bool = False
    # OpenID Connect Discovery: a provider that publishes these is an OpenID provider.
    id_token_signing_alg_values_supported: tuple[str, ...] | None = None
    prompt_values_supported: tuple[str, ...] | None = None


class TokenResponse(_Wire):
    """RFC 6749 §5.1: a successful token response."""

    access_token: BearerToken
    token_type: str | None = None
    expires_in: Lifetime = None
    refresh_token: str | None = None
    scope: str | None = None
    id_token: str | None = None


class ClientRegistrationResponse(_Wire):
    """RFC 7591 §3.2.1: a client information response."""

    client_id: str = Field(min_length=1)
    client_secret: str | None = None
    client_secret_expires_at: int | None = None
    token_endpoint_auth_method: str | None = None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()


class DeviceAuthorizationResponse(_Wire):
    """RFC 8628 §3.2: a device authorization response."""

    device_code: str = Field(min_length=1)
    user_code: str = Field(min_length=1)
    # Some providers (Google) spell it ``verification_url``.
    verification_uri: str = Field(
        min_length=1, validation_alias=AliasChoices("verification_uri", "verification_url")
    )
    verification_uri_complete: str | None = None
    expires_in: Seconds
    interval: Seconds | None = None


class TokenErrorResponse(_Wire):
    """RFC 6749 §5.2: an error response from the token endpoint."""

    error: str
    error_description: str | None = None
    error_uri: str | None = None


__all__ = [
    "MAX_SERVER_TEXT",
    "AuthorizationServerMetadata",
    "ClientRegistrationResponse",
    "DeviceAuthorizationResponse",
    "ProtectedResourceMetadata",
    "TokenErrorResponse",
    "TokenResponse",
    "load_json",
    "server_text",
]
