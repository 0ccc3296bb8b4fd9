"""``private_key_jwt`` client authentication: verifying RFC 7523 §3 client assertions.

Only what a token endpoint needs: compact JWS with RS256/RS384/RS512, PS256,
ES256 or ES384, keys from the client's registered ``jwks``, and the claim
checks of RFC 7523 §3 (``iss`` = ``sub`` = client id, ``aud`` naming this
server, unexpired, single-use ``jti``). Built on ``cryptography`` so the
server needs no JWT library.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .clock import Clock
from .http import OAuthProtocolError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_SKEW = 60
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES: dict[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
}
SUPPORTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")


def _b64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _bad("malformed client assertion") from exc


def _bad(description: str) -> OAuthProtocolError:
    return OAuthProtocolError("invalid_client", description, status=401)


def _int(value: object) -> int:
    if not isinstance(value, str):
        raise _bad("malformed key in jwks")
    return int.from_bytes(_b64(value), "big")


@dataclass(frozen=True)
class _Jws:
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes


def _parse(assertion: str) -> _Jws:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _bad("client assertion is not a compact JWS")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError as exc:
        raise _bad("malformed client assertion") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _bad("malformed client assertion")
    return _Jws(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64(parts[2]))


def _verify_with(jwk: Mapping[str, Any], alg: str, jws: _Jws) -> bool:
    try:
        if alg.startswith(("RS", "PS")) and jwk.get("kty") == "RSA":
            key = rsa.RSAPublicNumbers(_int(jwk.get("e")), _int(jwk.get("n"))).public_key()
            digest = _HASHES[alg[2:]]()
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(padding.MGF1(digest), padding.PSS.DIGEST_LENGTH)
            )
            key.verify(jws.signature, jws.signing_input, pad, digest)
            return True
        curve = _CURVES.get(str(jwk.get("crv")))
        if jwk.get("kty") == "EC" and curve and curve[2] == alg:
            ec_key = ec.EllipticCurvePublicNumbers(
                _int(jwk.get("x")), _int(jwk.get("y")), curve[0]
            ).public_key()
            size = curve[1]
            if len(jws.signature) != 2 * size:
                return False
            r = int.from_bytes(jws.signature[:size], "big")
            s = int.from_bytes(jws.signature[size:], "big")
            ec_key.verify(
                encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(_HASHES[alg[2:]]())
            )
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def assertion_subject(assertion: str) -> str | None:
    """Return the unverified ``sub`` of an assertion, used only to find the client."""
    sub = _parse(assertion).claims.get("sub")
    return sub if isinstance(sub, str) else None


class AssertionVerifier:
    """Checks client assertions and remembers their ``jti`` until they expire."""

    def __init__(self, clock: Clock, audiences: Iterable[str]) -> None:
        self._clock = clock
        self._audiences = frozenset(audiences)
        self._seen: dict[str, float] = {}

    def verify(self, assertion: str, client_id: str, jwks: Mapping[str, Any] | None) -> None:
        """Raise ``invalid_client`` unless ``assertion`` authenticates ``client_id``."""
        jws = _parse(assertion)
        alg = jws.header.get("alg")
        if alg not in SUPPORTED_ALGORITHMS:
            raise _bad("unsupported client assertion algorithm")
        keys = jwks.get("keys") if jwks else None
        if not isinstance(keys, list):
            raise _bad("client has no registered keys")
        kid = jws.header.get("kid")
        candidates = [
            k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)
        ]
        if not any(_verify_with(k, str(alg), jws) for k in candidates):
            raise _bad("client assertion signature does not verify")
        self._check_claims(jws.claims, client_id)

    def _check_claims(self, claims: Mapping[str, Any], client_id: str) -> None:
        now = self._clock.now()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise _bad("client assertion iss and sub must be the client id")
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not audiences & self._audiences:
            raise _bad("client assertion audience is not this server")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + MAX_SKEW <= now:
            raise _bad("client assertion expired or without exp")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - MAX_SKEW > now:
            raise _bad("client assertion not yet valid")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _bad("client assertion needs a jti")
        self._seen = {k: v for k, v in self._seen.items() if v + MAX_SKEW > now}
        if jti in self._seen:
            raise _bad("client assertion replayed")
        self._seen[jti] = float(exp)


__all__ = ["ASSERTION_TYPE", "SUPPORTED_ALGORITHMS", "AssertionVerifier", "assertion_subject"]
