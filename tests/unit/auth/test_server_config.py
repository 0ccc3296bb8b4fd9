"""How the discovered server shapes the authorization request (prompt=consent for OpenID)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mcp_oauth2_proxy.auth.discovery import DiscoveryResult
from mcp_oauth2_proxy.auth.grants import build_authorization_url
from mcp_oauth2_proxy.auth.models import AuthorizationServerMetadata
from mcp_oauth2_proxy.auth.pkce import new_pkce
from mcp_oauth2_proxy.auth.server import request_options, resolve_server
from mcp_oauth2_proxy.config import Settings

ISSUER = "https://id.example.com"
OPENID = {"id_token_signing_alg_values_supported": ["RS256"]}


def authorize_params(metadata: dict[str, Any], **oauth2: Any) -> dict[str, list[str]]:
    settings = Settings.model_validate(
        {"upstream": {"url": "https://mcp.example.com/mcp"}, "oauth2": {"clientId": "c", **oauth2}}
    )
    meta = AuthorizationServerMetadata.model_validate(
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "scopes_supported": ["openid", "mcp", "offline_access"],
            **metadata,
        }
    )
    found = DiscoveryResult(issuer=ISSUER, server_metadata=meta)
    server = resolve_server(settings, found)
    url = build_authorization_url(
        f"{ISSUER}/auth",
        client_id="c",
        redirect_uri="http://127.0.0.1:1/callback",
        state="s",
        pkce=new_pkce(),
        options=request_options(settings, server),
    )
    return parse_qs(urlsplit(url).query)


def test_an_openid_provider_is_asked_for_consent_so_it_grants_offline_access() -> None:
    params = authorize_params(OPENID, scope="mcp offline_access")
    assert params["prompt"] == ["consent"]


def test_a_plain_oauth_server_gets_no_prompt() -> None:
    assert "prompt" not in authorize_params({}, scope="mcp offline_access")


def test_no_offline_access_means_no_prompt() -> None:
    assert "prompt" not in authorize_params(OPENID, scope="mcp")


def test_a_provider_that_does_not_list_consent_gets_no_prompt() -> None:
    meta = OPENID | {"prompt_values_supported": ["none", "login"]}
    assert "prompt" not in authorize_params(meta, scope="mcp offline_access")


@pytest.mark.parametrize("prompt", ["login", "select_account consent"])
def test_the_users_own_prompt_wins(prompt: str) -> None:
    params = authorize_params(OPENID, scope="mcp offline_access", extraParams={"prompt": prompt})
    assert params["prompt"] == [prompt]
