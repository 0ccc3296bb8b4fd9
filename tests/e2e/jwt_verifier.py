"""A resource server's view of JWT access tokens from another provider (RFC 9068, RFC 8707).

Implements the project's ``TokenVerifier`` seam for the end-to-end upstream: the
signature is checked against the issuer's published JWKS (fetched on first use and
again when an unknown key id shows up), then ``iss``, ``exp`` and the audience,
which must be this resource server (the token was minted for it, RFC 8707).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from mcp_oauth2_proxy.server import TokenInfo

ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


class JwksTokenVerifier:
    """Verify RS256/ES256 JWT access tokens against ``jwks_uri``."""

    def __init__(self, *, issuer: str, audience: str, jwks_uri: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_uri = jwks_uri
        self._keys: dict[str, Any] = {}

    async def verify(self, token: str) -> TokenInfo | None:
        """Return what the token grants, or None when it must be refused."""
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(str(header.get("kid", "")))
            if key is None or header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
                return None
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        audience = claims["aud"]
        return TokenInfo(
            subject=claims["sub"],
            client_id=claims.get("client_id", ""),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            resources=tuple([audience] if isinstance(audience, str) else audience),
            expires_at=float(claims["exp"]),
        )

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
                answer = await http.get(self.jwks_uri)
            answer.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(answer.json())
            self._keys = {k.key_id or "": k for k in keys.keys}
        return self._keys.get(kid)
