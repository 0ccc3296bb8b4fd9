"""Values the authorization server keeps: clients, grants, codes, tokens, device requests.

All frozen; state changes are new values written back through the storage seam.
Token values are never stored, only their SHA-256 (:func:`token_key`), as a real
server would do.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

PUBLIC_AUTH_METHOD = "none"
PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name, not a secret
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def token_key(value: str) -> str:
    """Return the storage key for a secret value (hex SHA-256)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    """Return a fresh unguessable URL-safe value."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class RegisteredClient:
    """A client the server knows: registered, pre-configured or from a metadata document."""

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    grant_types: frozenset[str] = frozenset({GRANT_AUTHORIZATION_CODE})
    token_endpoint_auth_method: str = PUBLIC_AUTH_METHOD
    client_secret: str | None = None
    client_name: str | None = None
    scope: frozenset[str] | None = None
    jwks: Mapping[str, Any] | None = None
    client_id_issued_at: int = 0
    from_metadata_document: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_public(self) -> bool:
        """True for a client that does not authenticate at the token endpoint."""
        return self.token_endpoint_auth_method == PUBLIC_AUTH_METHOD

    @property
    def display_name(self) -> str:
        """The name to show on consent pages (untrusted, escape it)."""
        return self.client_name or self.client_id


@dataclass(frozen=True)
class Grant:
    """One authorization a user (or a client for itself) gave; tokens hang off it."""

    grant_id: str
    client_id: str
    subject: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    created_at: float
    revoked: bool = False


@dataclass(frozen=True)
class AuthorizationCode:
    """An issued authorization code (RFC 6749 §4.1.2) with its PKCE challenge."""

    client_id: str
    redirect_uri: str
    redirect_uri_in_request: bool
    code_challenge: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    subject: str
    expires_at: float
    redeemed_grant_id: str | None = None


@dataclass(frozen=True)
class AccessTokenRecord:
    """What the server knows about an opaque access token."""

    client_id: str
    subject: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    issued_at: float
    expires_at: float
    grant_id: str | None = None


class RefreshState(Enum):
    """Life cycle of a refresh token under rotation."""

    ACTIVE = "active"
    ROTATED = "rotated"


@dataclass(frozen=True)
class RefreshTokenRecord:
    """What the server knows about a refresh token."""

    client_id: str
    grant_id: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    issued_at: float
    expires_at: float | None
    state: RefreshState = RefreshState.ACTIVE


class DeviceState(Enum):
    """Life cycle of a device authorization request (RFC 8628)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CONSUMED = "consumed"


@dataclass(frozen=True)
class DeviceAuthorization:
    """A device authorization request and its user code."""

    device_key: str
    user_code: str
    client_id: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    expires_at: float
    interval: int
    state: DeviceState = DeviceState.PENDING
    subject: str | None = None
    last_poll_at: float | None = None


@dataclass(frozen=True)
class IssuedTokens:
    """The token response the server is about to send (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    scopes: frozenset[str]
    refresh_token: str | None = None

    def response_body(self) -> dict[str, object]:
        """Return the JSON body of the token response."""
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": " ".join(sorted(self.scopes)),
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


__all__ = [
    "GRANT_AUTHORIZATION_CODE",
    "GRANT_CLIENT_CREDENTIALS",
    "GRANT_DEVICE_CODE",
    "GRANT_REFRESH_TOKEN",
    "PRIVATE_KEY_JWT",
    "PUBLIC_AUTH_METHOD",
    "SECRET_AUTH_METHODS",
    "AccessTokenRecord",
    "AuthorizationCode",
    "DeviceAuthorization",
    "DeviceState",
    "Grant",
    "IssuedTokens",
    "RefreshState",
    "RefreshTokenRecord",
    "RegisteredClient",
    "new_secret",
    "token_key",
]
