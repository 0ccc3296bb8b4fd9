from __future__ import annotations

import io

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcp_oauth2_proxy.auth import create_auth
from tests.support.auth_helpers import FakeClock, FollowingBrowser, make_settings
from tests.support.oauth_server import CLIENT_ID, RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


def new_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    text = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, text


async def test_client_credentials_authenticate_with_a_signed_assertion(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    key, text = new_key()
    server.client_secret = "never-sent"
    server.assertion_keys[CLIENT_ID] = key.public_key()
    settings = make_settings(
        grant="client_credentials", authStyle="private_key_jwt", clientAssertionKey=text
    )
    session = await create_auth(settings, http, clock=clock, stderr=io.StringIO())
    await session.prefetch()
    clock.advance(4000)
    assert (await http.post(RESOURCE, content=PING, auth=session.auth)).status_code == 200
    forms = server.token_requests
    assert len(forms) == 2
    assert all("client_secret" not in f for f in forms)
    assert forms[0]["client_assertion"] != forms[1]["client_assertion"]  # a fresh jti each time


async def test_registration_with_a_key_registers_its_public_jwk_and_signs_the_exchange(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    _, text = new_key()
    settings = make_settings(clientId=None, clientAssertionKey=text)
    session = await create_auth(settings, http, opener=browser, clock=clock, stderr=io.StringIO())
    await session.prefetch()
    await browser.settle()
    [meta] = server.registrations
    assert meta["token_endpoint_auth_method"] == "private_key_jwt"
    assert meta["jwks"]["keys"][0]["kty"] == "EC"
    assert "d" not in meta["jwks"]["keys"][0]
    assert "client_assertion" in server.token_requests[0]
