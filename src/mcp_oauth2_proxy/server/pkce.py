"""PKCE verification on the server side (RFC 7636), S256 only (OAuth 2.1 §4.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def s256(verifier: str) -> str:
    """Return the S256 code challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_valid_challenge(challenge: str) -> bool:
    """True when ``challenge`` has the shape of an S256 challenge."""
    return bool(_CHALLENGE_RE.match(challenge))


def verifier_matches(verifier: str, challenge: str) -> bool:
    """True when ``verifier`` is well formed and hashes to ``challenge`` (constant time)."""
    if not _VERIFIER_RE.match(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


__all__ = ["is_valid_challenge", "s256", "verifier_matches"]
