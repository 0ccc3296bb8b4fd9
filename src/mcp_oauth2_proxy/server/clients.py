"""Clients: the registry seam, RFC 7591 metadata validation and redirect-URI matching.

Pure functions decide what a registration means; :class:`InMemoryClientRegistry`
keeps the result. Redirect URIs are ``https``, private-use schemes for native
apps (RFC 8252 §7.1), or ``http`` to a loopback IP literal or ``localhost``,
where any port matches at authorization time (RFC 8252 §7.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from ..urls import is_loopback_host
from .http import OAuthProtocolError, join_scope, split_scope
from .models import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    PRIVATE_KEY_JWT,
    PUBLIC_AUTH_METHOD,
    SECRET_AUTH_METHODS,
    RegisteredClient,
    new_secret,
)

SUPPORTED_GRANT_TYPES = (
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
)
SUPPORTED_AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    PRIVATE_KEY_JWT,
    PUBLIC_AUTH_METHOD,
)
_REDIRECTING_GRANTS = frozenset({GRANT_AUTHORIZATION_CODE})


class ClientRegistry(Protocol):
    """Where registered and pre-configured clients live."""

    async def get(self, client_id: str) -> RegisteredClient | None:
        """Return the client with ``client_id``, or None."""
        ...

    async def add(self, client: RegisteredClient) -> None:
        """Store (or replace) a client."""
        ...

    async def remove(self, client_id: str) -> None:
        """Forget a client; later requests with its id get ``invalid_client``."""
        ...


class InMemoryClientRegistry:
    """A :class:`ClientRegistry` in a dictionary."""

    def __init__(self, clients: Iterable[RegisteredClient] = ()) -> None:
        self.clients: dict[str, RegisteredClient] = {c.client_id: c for c in clients}

    async def get(self, client_id: str) -> RegisteredClient | None:
        """Return the client with ``client_id``, or None."""
        return self.clients.get(client_id)

    async def add(self, client: RegisteredClient) -> None:
        """Store (or replace) a client."""
        self.clients[client.client_id] = client

    async def remove(self, client_id: str) -> None:
        """Forget a client."""
        self.clients.pop(client_id, None)


def validate_redirect_uri(uri: str) -> str:
    """Return ``uri`` when it is an acceptable redirect URI, else raise ``invalid_redirect_uri``."""
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError as exc:
        raise OAuthProtocolError("invalid_redirect_uri", f"{uri!r} is not a URL") from exc
    if parts.fragment or "#" in uri:
        raise OAuthProtocolError("invalid_redirect_uri", "redirect URIs must not have a fragment")
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return uri
    if scheme == "http" and is_loopback_host(parts.hostname):
        return uri
    if "." in scheme and scheme not in ("http", "https"):  # private-use, reverse domain
        return uri
    raise OAuthProtocolError(
        "invalid_redirect_uri",
        f"{uri!r} must be https, http to a loopback address, or a private-use scheme",
    )


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Compare redirect URIs exactly, ignoring the port for loopback http (RFC 8252 §7.3)."""
    if registered == requested:
        return True
    try:
        reg, req = urlsplit(registered), urlsplit(requested)
        _ = reg.port, req.port
    except ValueError:
        return False
    if not (_is_loopback_http(reg) and _is_loopback_http(req)):
        return False
    return (reg.hostname, reg.path, reg.query) == (req.hostname, req.path, req.query)


def _is_loopback_http(parts: SplitResult) -> bool:
    return parts.scheme.lower() == "http" and is_loopback_host(parts.hostname)


def find_redirect_uri(client: RegisteredClient, requested: str | None) -> str:
    """Return the redirect URI to use for ``client``, or raise ``invalid_request``.

    Without a requested URI the client must have exactly one registered URI.
    """
    if requested is None:
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise OAuthProtocolError("invalid_request", "redirect_uri is required")
    if any(redirect_uri_matches(r, requested) for r in client.redirect_uris):
        return requested
    raise OAuthProtocolError("invalid_request", "redirect_uri is not registered for this client")


def _string_list(metadata: Mapping[str, Any], name: str, default: list[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OAuthProtocolError("invalid_client_metadata", f"{name} must be a list of strings")
    return value


def _optional_string(metadata: Mapping[str, Any], name: str) -> str | None:
    value = metadata.get(name)
    if value is not None and not isinstance(value, str):
        raise OAuthProtocolError("invalid_client_metadata", f"{name} must be a string")
    return value


def check_client_metadata(
    metadata: Mapping[str, Any], *, auth_methods: Iterable[str] = SUPPORTED_AUTH_METHODS
) -> tuple[list[str], list[str], str]:
    """Validate the RFC 7591 §2 fields every client kind shares.

    Returns:
        The redirect URIs, grant types and token endpoint auth method.
    """
    grant_types = _string_list(metadata, "grant_types", [GRANT_AUTHORIZATION_CODE])
    unknown = sorted(set(grant_types) - set(SUPPORTED_GRANT_TYPES))
    if unknown:
        raise OAuthProtocolError("invalid_client_metadata", f"unsupported grant_types {unknown}")
    response_types = _string_list(metadata, "response_types", ["code"])
    if any(r != "code" for r in response_types):
        raise OAuthProtocolError("invalid_client_metadata", "only response_type code is supported")
    # RFC 7591 §2: omitted means client_secret_basic.
    method = _optional_string(metadata, "token_endpoint_auth_method") or "client_secret_basic"
    if method not in auth_methods:
        raise OAuthProtocolError(
            "invalid_client_metadata", f"token_endpoint_auth_method {method} is not supported"
        )
    if method == PUBLIC_AUTH_METHOD and GRANT_CLIENT_CREDENTIALS in grant_types:
        raise OAuthProtocolError(
            "invalid_client_metadata", "client_credentials needs an authenticated client"
        )
    if method == PRIVATE_KEY_JWT:
        check_jwks(metadata.get("jwks"))
    redirect_uris = _string_list(metadata, "redirect_uris", [])
    if _REDIRECTING_GRANTS & set(grant_types) and not redirect_uris:
        raise OAuthProtocolError("invalid_redirect_uri", "redirect_uris is required")
    for uri in redirect_uris:
        validate_redirect_uri(uri)
    return redirect_uris, grant_types, method


def check_jwks(jwks: object) -> Mapping[str, Any]:
    """Return an inline JWK Set, or raise: ``private_key_jwt`` needs ``jwks`` (no ``jwks_uri``)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(jwks, dict) or not isinstance(keys, list) or not keys:
        raise OAuthProtocolError(
            "invalid_client_metadata", "private_key_jwt needs an inline jwks with keys"
        )
    return jwks


def register_client(
    metadata: Mapping[str, Any], *, scopes_supported: Iterable[str], issued_at: int
) -> RegisteredClient:
    """Turn an RFC 7591 registration request into a new client with fresh credentials.

    Unknown scopes are dropped rather than refused (RFC 7591 §3.2.1 lets the
    server replace requested values); the response shows what was kept.
    """
    redirect_uris, grant_types, method = check_client_metadata(metadata)
    requested_scope = _optional_string(metadata, "scope")
    scope = split_scope(requested_scope) & frozenset(scopes_supported) if requested_scope else None
    client_id = new_secret(16)
    secret = new_secret(32) if method in SECRET_AUTH_METHODS else None
    echoed = {k: v for k, v in metadata.items() if k != "client_secret"}
    echoed.update(
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        response_types=["code"],
        token_endpoint_auth_method=method,
    )
    if scope is not None:
        echoed["scope"] = join_scope(scope)
    return RegisteredClient(
        client_id=client_id,
        redirect_uris=tuple(redirect_uris),
        grant_types=frozenset(grant_types),
        token_endpoint_auth_method=method,
        client_secret=secret,
        client_name=_optional_string(metadata, "client_name"),
        scope=scope,
        jwks=check_jwks(metadata.get("jwks")) if method == PRIVATE_KEY_JWT else None,
        client_id_issued_at=issued_at,
        metadata=echoed,
    )


def registration_response(client: RegisteredClient) -> dict[str, Any]:
    """Return the RFC 7591 §3.2.1 response body for a new client."""
    body: dict[str, Any] = dict(client.metadata)
    body["client_id"] = client.client_id
    body["client_id_issued_at"] = client.client_id_issued_at
    if client.client_secret is not None:
        body["client_secret"] = client.client_secret
        body["client_secret_expires_at"] = 0
    return body


__all__ = [
    "SUPPORTED_AUTH_METHODS",
    "SUPPORTED_GRANT_TYPES",
    "ClientRegistry",
    "InMemoryClientRegistry",
    "check_client_metadata",
    "check_jwks",
    "find_redirect_uri",
    "redirect_uri_matches",
    "register_client",
    "registration_response",
    "validate_redirect_uri",
]
