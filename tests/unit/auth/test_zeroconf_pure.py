"""Pure pieces of client identity, scopes, step-up detection and paste-back parsing."""

from __future__ import annotations

import httpx
import pytest

from mcp_oauth2_proxy.auth.bearer import insufficient_scope
from mcp_oauth2_proxy.auth.grants import ClientAuth, build_token_request, choose_auth_method
from mcp_oauth2_proxy.auth.login import parse_pasted_redirect
from mcp_oauth2_proxy.auth.registration import (
    Registration,
    parse_registration_response,
    port_agnostic,
    registration_fits,
    registration_metadata,
)
from mcp_oauth2_proxy.auth.scopes import scope_covers, union_scopes
from mcp_oauth2_proxy.errors import AuthError


def test_union_keeps_order_and_drops_duplicates() -> None:
    assert union_scopes("a b", None, "b c") == "a b c"
    assert union_scopes(None, "") is None
    assert scope_covers("a b c", "c a")
    assert not scope_covers("a", "a b")
    assert scope_covers(None, None)


def test_only_a_403_insufficient_scope_asks_for_step_up() -> None:
    def answer(status: int, header: str) -> httpx.Response:
        return httpx.Response(status, headers={"WWW-Authenticate": header})

    found = insufficient_scope(answer(403, 'Bearer error="insufficient_scope", scope="a b"'))
    assert found is not None
    assert found.scope == "a b"
    assert insufficient_scope(answer(403, 'Bearer error="invalid_token"')) is None
    assert insufficient_scope(answer(401, 'Bearer error="insufficient_scope"')) is None


def test_registration_metadata_is_a_native_public_client_with_refresh() -> None:
    meta = registration_metadata(
        grant="authorization_code",
        redirect_uri="http://127.0.0.1:53682/callback",
        auth_method="none",
    )
    assert meta["application_type"] == "native"
    assert meta["grant_types"] == ["authorization_code", "refresh_token"]
    assert meta["redirect_uris"] == ["http://127.0.0.1:53682/callback"]
    assert meta["token_endpoint_auth_method"] == "none"
    device = registration_metadata(
        grant="device_code", redirect_uri="http://x/cb", auth_method="none"
    )
    assert "redirect_uris" not in device
    assert "refresh_token" in device["grant_types"]


def test_port_agnostic_redirect_drops_only_the_port() -> None:
    assert port_agnostic("http://127.0.0.1:0/callback") == "http://127.0.0.1/callback"
    assert port_agnostic("http://[::1]:8080/cb") == "http://[::1]/cb"


def test_registration_fits_until_redirect_grant_or_secret_expiry_change() -> None:
    reg = Registration(
        "c",
        "s",
        "client_secret_basic",
        ("http://127.0.0.1:53682/callback",),
        ("authorization_code",),
        2000,
    )
    fits = {
        "grant": "authorization_code",
        "redirect_uri": "http://127.0.0.1:53682/callback",
        "now": 1000.0,
    }
    assert registration_fits(reg, **fits)  # type: ignore[arg-type]
    assert not registration_fits(reg, **{**fits, "redirect_uri": "http://127.0.0.1:1/callback"})  # type: ignore[arg-type]
    assert not registration_fits(reg, **{**fits, "grant": "device_code"})  # type: ignore[arg-type]
    assert not registration_fits(reg, **{**fits, "now": 3000.0})  # type: ignore[arg-type]


def test_registration_error_names_the_setting_to_use_instead() -> None:
    with pytest.raises(AuthError, match="OAUTH2_CLIENT_ID") as caught:
        parse_registration_response(
            400, b'{"error":"invalid_redirect_uri"}', url="https://a/register"
        )
    assert caught.value.error == "invalid_redirect_uri"
    assert parse_registration_response(201, b'{"client_id":"x"}', url="u").client_id == "x"


def test_pasted_redirect_may_be_a_url_or_a_query_with_quotes() -> None:
    assert parse_pasted_redirect(" 'http://127.0.0.1:53682/callback?code=c&state=s' \n") == {
        "code": "c",
        "state": "s",
    }
    assert parse_pasted_redirect("code=c&state=s")["code"] == "c"
    with pytest.raises(AuthError, match="redirect URL"):
        parse_pasted_redirect("http://127.0.0.1:53682/callback")


def test_auto_auth_style_signs_when_only_a_key_is_configured() -> None:
    assert (
        choose_auth_method("auto", has_secret=False, advertised=None, has_key=True)
        == "private_key_jwt"
    )
    assert (
        choose_auth_method("auto", has_secret=True, advertised=None, has_key=True)
        == "client_secret_post"
    )
    assert (
        choose_auth_method("private_key_jwt", has_secret=False, advertised=None, has_key=True)
        == "private_key_jwt"
    )


def test_private_key_jwt_request_carries_a_fresh_assertion_and_no_secret() -> None:
    made = iter(["jwt-1", "jwt-2"])
    client = ClientAuth("cid", None, "private_key_jwt", lambda: next(made))
    first = build_token_request("https://a/token", [("grant_type", "client_credentials")], client)
    second = build_token_request("https://a/token", [("grant_type", "client_credentials")], client)
    assert b"client_assertion=jwt-1" in first.content
    assert b"client_assertion=jwt-2" in second.content
    assert b"jwt-bearer" in first.content
    assert "Authorization" not in first.headers
