"""The seam between a resource server and whoever issued its tokens.

A :class:`TokenVerifier` turns a bearer token into :class:`TokenInfo` (or None).
The demo's authorization server issues opaque random tokens and lives in the
same process, so :class:`LocalTokenVerifier` looks them up directly; that keeps
revocation immediate and needs no JWT library. A JWKS-based verifier for JWT
access tokens from another provider would implement the same Protocol; the
gate does the audience (RFC 8707 resource) and scope checks for every verifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .grants import TokenService


@dataclass(frozen=True)
class TokenInfo:
    """What a verified access token grants."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    resources: tuple[str, ...]
    expires_at: float


class TokenVerifier(Protocol):
    """Validates bearer tokens for a resource server."""

    async def verify(self, token: str) -> TokenInfo | None:
        """Return what ``token`` grants, or None when it is unknown, expired or revoked."""
        ...


class LocalTokenVerifier:
    """Verify tokens against an in-process :class:`~.grants.TokenService`."""

    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    async def verify(self, token: str) -> TokenInfo | None:
        """Look the token up in the authorization server's storage."""
        record = await self._tokens.lookup_access_token(token)
        if record is None:
            return None
        return TokenInfo(
            subject=record.subject,
            client_id=record.client_id,
            scopes=record.scopes,
            resources=record.resources,
            expires_at=record.expires_at,
        )


__all__ = ["LocalTokenVerifier", "TokenInfo", "TokenVerifier"]
