"""PKCE (RFC 7636) and the ``state`` value: generation and checks.

Only S256 is ever used (RFC 7636 §4.2; OAuth 2.1 forbids ``plain`` where S256
is possible).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

S256 = "S256"
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True)
class Pkce:
    """A code verifier and its S256 challenge."""

    verifier: str
    challenge: str
    method: str = S256


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_pkce() -> Pkce:
    """Return a fresh verifier (86 characters, 512 bits of entropy) and its challenge."""
    verifier = secrets.token_urlsafe(64)
    return Pkce(verifier, s256_challenge(verifier))


def is_valid_verifier(verifier: str) -> bool:
    """Tell whether ``verifier`` has the RFC 7636 §4.1 length and alphabet."""
    return bool(_VERIFIER_RE.match(verifier))


def new_state() -> str:
    """Return a fresh, unguessable ``state`` value (RFC 6749 §10.12)."""
    return secrets.token_urlsafe(32)


def same_secret(expected: str, actual: str | None) -> bool:
    """Constant-time comparison of a ``state`` (or similar) value."""
    if actual is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), actual.encode("utf-8"))


def supports_s256(methods: tuple[str, ...] | None) -> bool:
    """Tell whether S256 is usable: false only when a server lists methods without it."""
    return methods is None or S256 in methods


__all__ = [
    "S256",
    "Pkce",
    "is_valid_verifier",
    "new_pkce",
    "new_state",
    "s256_challenge",
    "same_secret",
    "supports_s256",
]
