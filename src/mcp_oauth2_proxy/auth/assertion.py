"""``private_key_jwt`` client authentication: signed JWT client assertions (RFC 7523 §2.2, §3).

Each token request carries a fresh assertion: ``iss`` = ``sub`` = the client
id, ``aud`` = the authorization server's issuer (its token endpoint when no
issuer is known), a short lifetime and a unique ``jti`` so a captured
assertion cannot be replayed. PyJWT and the key parsing are imported lazily.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

ASSERTION_LIFETIME_SECONDS = 60
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_SUPPORTED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class AssertionSigner:
    """Signs client assertions with one private key."""

    def __init__(
        self,
        key: PrivateKeyTypes,
        alg: str,
        *,
        wall: Callable[[], float] = time.time,
        lifetime: int = ASSERTION_LIFETIME_SECONDS,
    ) -> None:
        self._key = key
        self.alg = alg
        self._wall = wall
        self._lifetime = lifetime

    def sign(self, client_id: str, audience: str) -> str:
        """Return a new assertion for ``client_id`` addressed to ``audience``."""
        import jwt

        now = int(self._wall())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._lifetime,
            "jti": secrets.token_urlsafe(24),
        }
        return jwt.encode(claims, self._key, algorithm=self.alg)  # type: ignore[arg-type]

    def bind(self, client_id: str, audience: str) -> Callable[[], str]:
        """Return a function producing assertions for one client and audience."""
        return lambda: self.sign(client_id, audience)

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK, for the ``jwks`` of a dynamic registration (RFC 7591 §2)."""
        from jwt.algorithms import get_default_algorithms

        algorithm = get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = algorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {**jwk, "use": "sig", "alg": self.alg}


def load_signer(
    *, key_file: str | None, key_pem: str | None, alg: str | None
) -> AssertionSigner | None:
    """Build the signer from ``clientAssertionKeyFile``/``clientAssertionKey``, or None.

    Raises:
        ConfigError: the key cannot be read or parsed, or the algorithm does
            not fit the key.

    """
    if key_pem is None and key_file is None:
        return None
    field = "oauth2.clientAssertionKey" if key_pem is not None else "oauth2.clientAssertionKeyFile"
    data = key_pem.encode("utf-8") if key_pem is not None else _read_key_file(key_file or "")
    key = _parse_key(data, field)
    chosen = alg or default_alg(key)
    if chosen not in _SUPPORTED_ALGS or not _alg_fits(chosen, key):
        raise ConfigError(
            f"oauth2.clientAssertionAlg: {chosen!r} cannot be used with this key; expected "
            "RS256/PS256 (RSA), ES256/ES384/ES512 (EC) or EdDSA (Ed25519)",
            field="oauth2.clientAssertionAlg",
        )
    return AssertionSigner(key, chosen)


def default_alg(key: PrivateKeyTypes) -> str:
    """RS256 for RSA, ES256/384/512 by curve for EC, EdDSA for Ed25519."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _EC_ALGS.get(key.curve.name, "ES256")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigError(
        "oauth2.clientAssertionKey: unsupported key type; use an RSA, EC or Ed25519 key",
        field="oauth2.clientAssertionKey",
    )


def _alg_fits(alg: str, key: PrivateKeyTypes) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPrivateKey)
    if alg.startswith("ES"):
        return isinstance(key, ec.EllipticCurvePrivateKey) and _EC_ALGS.get(key.curve.name) == alg
    return isinstance(key, ed25519.Ed25519PrivateKey)


def _read_key_file(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"oauth2.clientAssertionKeyFile: cannot read {path}: {exc.strerror}",
            field="oauth2.clientAssertionKeyFile",
        ) from exc


def _parse_key(data: bytes, field: str) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{field}: not an unencrypted PEM private key ({type(exc).__name__})", field=field
        ) from None


__all__ = ["ASSERTION_LIFETIME_SECONDS", "AssertionSigner", "default_alg", "load_signer"]
