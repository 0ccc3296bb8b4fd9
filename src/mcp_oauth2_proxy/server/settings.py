"""Tunable behaviour of the authorization server, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthorizationServerSettings:
    """Everything about the authorization server that is policy rather than code.

    Attributes:
        issuer: the issuer identifier (RFC 8414 §2), an https or loopback http URL
            without query or fragment; endpoints live under it.
        scopes_supported: scopes clients may request; ``offline_access`` is advertised
            so MCP clients know to ask for refresh tokens.
        default_scopes: granted when a request names no scope.
        resources: RFC 8707 resource indicators this server issues tokens for;
            empty means any absolute URI.
        default_resource: the resource bound to tokens when a request names none.
        subject: the user every approval is made as (the demo has one user).
        access_token_ttl: access token lifetime in seconds.
        refresh_token_ttl: refresh token lifetime in seconds, None for no expiry.
        code_ttl: authorization code lifetime in seconds.
        device_code_ttl: device code lifetime in seconds.
        device_poll_interval: minimum polling interval advertised (RFC 8628 §3.2).
        rotate_refresh_tokens: issue a new refresh token on every refresh.
        revoke_grant_on_refresh_reuse: a rotated refresh token presented again
            revokes the whole grant (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
        refresh_requires_offline_access: only issue refresh tokens when the
            ``offline_access`` scope was granted.
        allow_dynamic_registration: expose the RFC 7591 registration endpoint.
        allow_metadata_documents: accept https client ids (Client ID Metadata Documents).
        strict_client_auth_method: a client must authenticate with exactly its
            registered ``token_endpoint_auth_method``.
    """

    issuer: str
    scopes_supported: tuple[str, ...] = ("mcp", "offline_access")
    default_scopes: tuple[str, ...] = ("mcp",)
    resources: tuple[str, ...] = ()
    default_resource: str | None = None
    subject: str = "demo-user"
    access_token_ttl: int = 3600
    refresh_token_ttl: int | None = 30 * 24 * 3600
    code_ttl: int = 60
    device_code_ttl: int = 600
    device_poll_interval: int = 5
    rotate_refresh_tokens: bool = True
    revoke_grant_on_refresh_reuse: bool = True
    refresh_requires_offline_access: bool = False
    allow_dynamic_registration: bool = True
    allow_metadata_documents: bool = True
    strict_client_auth_method: bool = True

    def endpoint(self, path: str) -> str:
        """Return the absolute URL of an endpoint path under the issuer."""
        return self.issuer.rstrip("/") + path


__all__ = ["AuthorizationServerSettings"]
