from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from mcp_oauth2_proxy.server import FakeClock

from .flows import ISSUER, REDIRECT_URI, get_code, new_pkce, register, token

pytestmark = pytest.mark.anyio
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


class Signer:
    def __init__(self, alg: str) -> None:
        self.alg = alg
        if alg == "ES256":
            self.key: Any = ec.generate_private_key(ec.SECP256R1())
            nums = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": uint(nums.x, 32), "y": uint(nums.y, 32)}
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            nums = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": uint(nums.n), "e": uint(nums.e)}
        self.jwk["kid"] = "k1"

    def sign(self, claims: dict[str, Any]) -> str:
        header = b64(json.dumps({"alg": self.alg, "kid": "k1", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims).encode())
        data = f"{header}.{body}".encode()
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif self.alg == "PS256":
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            signature = self.key.sign(data, pss, hashes.SHA256())
        else:
            signature = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{b64(signature)}"


def claims(client_id: str, now: float, **extra: Any) -> dict[str, Any]:
    out = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "exp": int(now) + 60,
        "iat": int(now),
        "jti": secrets.token_hex(8),
    }
    out.update(extra)
    return out


async def register_jwt_client(auth: httpx.AsyncClient, signer: Signer, **extra: Any) -> str:
    client = await register(
        auth,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [signer.jwk]},
        **extra,
    )
    assert "client_secret" not in client
    return str(client["client_id"])


def cc_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_client_credentials_with_a_signed_client_assertion(
    auth: httpx.AsyncClient, clock: FakeClock, alg: str
) -> None:
    signer = Signer(alg)
    client_id = await register_jwt_client(
        auth, signer, grant_types=["client_credentials"], redirect_uris=[]
    )
    response = await token(auth, cc_form(signer.sign(claims(client_id, clock.now()))))
    assert response.status_code == 200, response.text


async def test_the_code_exchange_accepts_an_assertion_addressed_to_the_token_endpoint(
    auth: httpx.AsyncClient, clock: FakeClock
) -> None:
    signer = Signer("RS256")
    client_id = await register_jwt_client(auth, signer)
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    assertion = signer.sign(claims(client_id, clock.now(), aud=[ISSUER + "/token"]))
    response = await token(
        auth,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier,
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "https://other.example"},
        {"exp": 0},
        {"iss": "someone-else"},
        {"jti": None},
    ],
)
async def test_assertions_with_bad_claims_are_invalid_client(
    auth: httpx.AsyncClient, clock: FakeClock, change: dict[str, Any]
) -> None:
    signer = Signer("ES256")
    client_id = await register_jwt_client(
        auth, signer, grant_types=["client_credentials"], redirect_uris=[]
    )
    bad = {k: v for k, v in claims(client_id, clock.now(), **change).items() if v is not None}
    response = await token(auth, {**cc_form(signer.sign(bad)), "client_id": client_id})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_replayed_assertion_or_a_foreign_key_is_refused(
    auth: httpx.AsyncClient, clock: FakeClock
) -> None:
    signer = Signer("RS256")
    client_id = await register_jwt_client(
        auth, signer, grant_types=["client_credentials"], redirect_uris=[]
    )
    assertion = signer.sign(claims(client_id, clock.now()))
    assert (await token(auth, cc_form(assertion))).status_code == 200
    assert (await token(auth, cc_form(assertion))).status_code == 401
    forged = Signer("RS256").sign(claims(client_id, clock.now()))
    assert (await token(auth, cc_form(forged))).status_code == 401


async def test_private_key_jwt_registration_needs_inline_keys(auth: httpx.AsyncClient) -> None:
    response = await auth.post(
        "/register",
        json={
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://client.example/jwks",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


async def test_a_private_key_jwt_client_cannot_fall_back_to_no_authentication(
    auth: httpx.AsyncClient,
) -> None:
    signer = Signer("RS256")
    client_id = await register_jwt_client(
        auth, signer, grant_types=["client_credentials"], redirect_uris=[]
    )
    response = await token(auth, {"grant_type": "client_credentials", "client_id": client_id})
    assert response.status_code == 401
