from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mcp_oauth2_proxy.auth.assertion import load_signer
from mcp_oauth2_proxy.errors import ConfigError


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_assertion_names_the_client_and_issuer_and_is_short_lived_and_unique() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = load_signer(key_file=None, key_pem=pem(key), alg=None)
    assert signer is not None
    assert signer.alg == "ES256"
    first = signer.sign("my-client", "https://auth.test")
    second = signer.sign("my-client", "https://auth.test")
    claims = jwt.decode(first, key.public_key(), algorithms=["ES256"], audience="https://auth.test")
    assert claims["iss"] == claims["sub"] == "my-client"
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


def test_rsa_key_from_a_file_signs_rs256(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "key.pem"
    path.write_text(pem(key))
    signer = load_signer(key_file=str(path), key_pem=None, alg=None)
    assert signer is not None
    assert signer.alg == "RS256"
    assert signer.public_jwk()["kty"] == "RSA"
    assert "d" not in signer.public_jwk()  # the public half only


def test_an_algorithm_that_does_not_fit_the_key_is_a_configuration_error() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigError, match="clientAssertionAlg"):
        load_signer(key_file=None, key_pem=pem(key), alg="RS256")


def test_an_unreadable_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="clientAssertionKeyFile"):
        load_signer(key_file=str(tmp_path / "missing.pem"), key_pem=None, alg=None)
    with pytest.raises(ConfigError, match="PEM"):
        load_signer(key_file=None, key_pem="not a key", alg=None)
