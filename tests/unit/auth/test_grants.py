from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import httpx
import pytest

from mcp_oauth2_proxy.auth.grants import (
    ClientAuth,
    RequestOptions,
    StateMismatchError,
    authorization_code_params,
    basic_credentials,
    build_authorization_url,
    build_token_request,
    check_authorization_response,
    choose_auth_method,
    client_credentials_params,
    parse_token_response,
    refresh_params,
    select_scope,
    split_extra_params,
)
from mcp_oauth2_proxy.auth.pkce import Pkce
from mcp_oauth2_proxy.errors import AuthError

PKCE = Pkce("v" * 43, "challenge")
STATE = "state-" + "x" * 40


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def query(url: str) -> dict[str, str]:
    return dict(httpx.URL(url).params)


# ---------------------------------------------------------------- authorization URL


def test_authorization_url_has_every_protocol_parameter() -> None:
    url = build_authorization_url(
        "https://auth.test/authorize",
        client_id="cid",
        redirect_uri="http://127.0.0.1:53682/callback",
        state=STATE,
        pkce=PKCE,
        options=RequestOptions(scope="a b", resource="https://mcp.test/mcp", audience="api"),
    )
    assert url.startswith("https://auth.test/authorize?")
    assert query(url) == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "http://127.0.0.1:53682/callback",
        "state": STATE,
        "code_challenge": "challenge",
        "code_challenge_method": "S256",
        "scope": "a b",
        "resource": "https://mcp.test/mcp",
        "audience": "api",
    }
    assert "scope=a%20b" in url


def test_authorization_url_keeps_existing_query_but_not_protocol_overrides() -> None:
    url = build_authorization_url(
        "https://auth.test/authorize?p=policy&state=evil",
        client_id="cid",
        redirect_uri="http://127.0.0.1/cb",
        state=STATE,
        pkce=PKCE,
        options=RequestOptions(),
    )
    params = httpx.URL(url).params
    assert params["p"] == "policy"
    assert params.get_list("state") == [STATE]


def test_extra_params_never_override_protocol_parameters() -> None:
    extra, dropped = split_extra_params(
        {
            "prompt": "consent",
            "state": "x",
            "Code_Verifier": "y",
            "redirect_uri": "z",
            "client_id": "q",
        }
    )
    assert extra == (("prompt", "consent"),)
    assert sorted(dropped) == ["Code_Verifier", "client_id", "redirect_uri", "state"]
    url = build_authorization_url(
        "https://auth.test/authorize",
        client_id="cid",
        redirect_uri="http://127.0.0.1/cb",
        state=STATE,
        pkce=PKCE,
        options=RequestOptions(extra=(("prompt", "consent"), ("state", "evil"))),
    )
    assert query(url)["prompt"] == "consent"
    assert query(url)["state"] == STATE


# ---------------------------------------------------------------- authorization response


def test_authorization_response_with_matching_state_and_issuer_yields_the_code() -> None:
    got = check_authorization_response(
        {"code": "c", "state": STATE, "iss": "https://auth.test"},
        expected_state=STATE,
        issuer="https://auth.test",
        iss_required=True,
    )
    assert got.code == "c"


@pytest.mark.parametrize("params", [{"code": "c"}, {"code": "c", "state": "other"}])
def test_authorization_response_with_missing_or_wrong_state_is_refused(
    params: dict[str, str],
) -> None:
    with pytest.raises(StateMismatchError):
        check_authorization_response(params, expected_state=STATE, issuer=None, iss_required=False)


def test_authorization_response_from_another_issuer_is_refused() -> None:
    with pytest.raises(AuthError, match="RFC 9207"):
        check_authorization_response(
            {"code": "c", "state": STATE, "iss": "https://evil.test"},
            expected_state=STATE,
            issuer="https://auth.test",
            iss_required=False,
        )


def test_authorization_response_without_a_promised_iss_is_refused() -> None:
    with pytest.raises(AuthError, match="iss"):
        check_authorization_response(
            {"code": "c", "state": STATE},
            expected_state=STATE,
            issuer="https://a",
            iss_required=True,
        )


def test_authorization_error_response_carries_the_oauth_error() -> None:
    with pytest.raises(AuthError) as caught:
        check_authorization_response(
            {"error": "access_denied", "error_description": "no", "state": STATE},
            expected_state=STATE,
            issuer=None,
            iss_required=False,
        )
    assert caught.value.error == "access_denied"
    assert caught.value.error_description == "no"


def test_authorization_response_without_code_is_refused() -> None:
    with pytest.raises(AuthError, match="no authorization code"):
        check_authorization_response(
            {"state": STATE}, expected_state=STATE, issuer=None, iss_required=False
        )


# ---------------------------------------------------------------- client authentication


@pytest.mark.parametrize(
    ("style", "has_secret", "advertised", "method"),
    [
        ("auto", True, ["client_secret_post", "client_secret_basic"], "client_secret_basic"),
        ("auto", True, ["client_secret_post", "none"], "client_secret_post"),
        ("auto", True, ["none"], "none"),
        ("auto", True, ["private_key_jwt"], "client_secret_post"),
        ("auto", True, None, "client_secret_post"),
        ("auto", False, ["client_secret_basic"], "none"),
        ("header", True, None, "client_secret_basic"),
        ("body", True, ["client_secret_basic"], "client_secret_post"),
        ("none", True, None, "none"),
        ("header", False, None, "none"),
    ],
)
def test_client_authentication_method_choice(
    style: str, has_secret: bool, advertised: list[str] | None, method: str
) -> None:
    assert choose_auth_method(style, has_secret=has_secret, advertised=advertised) == method  # type: ignore[arg-type]


def test_private_key_jwt_is_refused_clearly() -> None:
    with pytest.raises(AuthError, match="private_key_jwt"):
        choose_auth_method("private_key_jwt", has_secret=False, advertised=None)


def test_basic_credentials_form_encode_id_and_secret_first() -> None:
    value = basic_credentials("my client", "p@ss:w+rd/é")
    raw = base64.b64decode(value.removeprefix("Basic ")).decode()
    assert raw == "my+client:p%40ss%3Aw%2Brd%2F%C3%A9"


# ---------------------------------------------------------------- token requests


def test_code_exchange_request_with_basic_auth() -> None:
    request = build_token_request(
        "https://auth.test/token",
        authorization_code_params(
            "the-code",
            redirect_uri="http://127.0.0.1/cb",
            code_verifier="ver",
            resource="https://r",
        ),
        ClientAuth("cid", "sec", "client_secret_basic"),
    )
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == basic_credentials("cid", "sec")
    assert form(request) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "http://127.0.0.1/cb",
        "code_verifier": "ver",
        "resource": "https://r",
    }


def test_refresh_request_for_a_public_client_posts_the_client_id() -> None:
    request = build_token_request(
        "https://auth.test/token",
        refresh_params("rt", resource="https://r"),
        ClientAuth("cid"),
        extra=(("tenant", "t"), ("refresh_token", "evil")),
    )
    assert "authorization" not in request.headers
    assert form(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt",
        "resource": "https://r",
        "client_id": "cid",
        "tenant": "t",
    }


def test_client_credentials_request_with_post_auth_audience_and_scope() -> None:
    request = build_token_request(
        "https://auth.test/token",
        client_credentials_params(RequestOptions(scope="s1 s2", audience="api", resource=None)),
        ClientAuth("cid", "sec", "client_secret_post"),
    )
    assert form(request) == {
        "grant_type": "client_credentials",
        "scope": "s1 s2",
        "audience": "api",
        "client_id": "cid",
        "client_secret": "sec",
    }


# ---------------------------------------------------------------- token responses


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def test_token_response_gets_an_absolute_expiry() -> None:
    tokens = parse_token_response(
        200,
        "application/json",
        body(
            {
                "access_token": "at",
                "token_type": "bearer",
                "expires_in": "3600",
                "refresh_token": "rt",
            }
        ),
        now=100.0,
    )
    assert tokens.access_token == "at"
    assert tokens.expires_at == 3700.0
    assert tokens.refresh_token == "rt"


def test_token_response_without_expiry_never_expires_by_itself() -> None:
    tokens = parse_token_response(200, "application/json", body({"access_token": "at"}), now=0)
    assert tokens.expires_at is None
    assert tokens.refresh_token is None


def test_form_encoded_token_response_is_understood() -> None:
    tokens = parse_token_response(
        200, "application/x-www-form-urlencoded", b"access_token=at&token_type=bearer", now=0
    )
    assert tokens.access_token == "at"


def test_rfc_6749_error_response_carries_error_and_description() -> None:
    with pytest.raises(AuthError) as caught:
        parse_token_response(
            400,
            "application/json",
            body({"error": "invalid_grant", "error_description": "expired"}),
            now=0,
            url="https://auth.test/token",
        )
    assert caught.value.error == "invalid_grant"
    assert caught.value.error_description == "expired"
    assert caught.value.url == "https://auth.test/token"


def test_error_status_without_an_oauth_error_says_so() -> None:
    with pytest.raises(AuthError, match="HTTP 502"):
        parse_token_response(502, "text/html", b"<html>bad gateway</html>", now=0)


@pytest.mark.parametrize(
    "payload",
    [{}, {"access_token": ""}, {"access_token": 5}, {"access_token": "a\r\nX-Injected: 1"}],
)
def test_unusable_success_response_is_an_error(payload: dict[str, object]) -> None:
    with pytest.raises(AuthError, match="access_token"):
        parse_token_response(200, "application/json", body(payload), now=0)


def test_non_bearer_token_type_is_refused() -> None:
    with pytest.raises(AuthError, match="Bearer"):
        parse_token_response(
            200, "application/json", body({"access_token": "a", "token_type": "DPoP"}), now=0
        )


# ---------------------------------------------------------------- scope selection


def test_configured_scope_wins() -> None:
    assert select_scope(configured="x", challenge="y", resource_scopes=["z"]) == "x"


def test_challenge_scope_then_resource_scopes_then_none() -> None:
    assert select_scope(configured=None, challenge="a b", resource_scopes=["z"]) == "a b"
    assert select_scope(configured=None, challenge=None, resource_scopes=["z", "w"]) == "z w"
    assert select_scope(configured=None, challenge=None) is None


def test_offline_access_is_added_only_where_the_server_lists_it() -> None:
    assert (
        select_scope(
            configured=None,
            challenge="a",
            server_scopes=["a", "offline_access"],
            offline_access=True,
        )
        == "a offline_access"
    )
    assert (
        select_scope(configured=None, challenge="a", server_scopes=["a"], offline_access=True)
        == "a"
    )
