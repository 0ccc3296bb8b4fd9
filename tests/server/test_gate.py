from __future__ import annotations

import httpx
import pytest

from mcp_oauth2_proxy.server import (
    DemoServers,
    McpHttpApp,
    McpServer,
    ProtectedResourceGate,
    ProtectedResourceSettings,
    bearer_challenge,
    build_demo_servers,
    tool_scopes,
)

from .flows import ISSUER, MCP_HEADERS, MCP_URL, initialize_message, login, rpc

pytestmark = pytest.mark.anyio
PRM_URL = "http://127.0.0.1:9001/.well-known/oauth-protected-resource/mcp"


async def test_a_request_without_a_token_gets_401_naming_the_metadata_and_scope(
    mcp: httpx.AsyncClient,
) -> None:
    response = await mcp.post("/mcp", json=initialize_message(), headers=MCP_HEADERS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{PRM_URL}", scope="mcp"'
    )


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
)
async def test_protected_resource_metadata_is_served_without_a_token(
    mcp: httpx.AsyncClient, path: str
) -> None:
    response = await mcp.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": MCP_URL,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-oauth2-proxy demo MCP server",
    }


async def test_an_unknown_token_gets_401_invalid_token(mcp: httpx.AsyncClient) -> None:
    response = await mcp.post(
        "/mcp",
        json=initialize_message(),
        headers={**MCP_HEADERS, "Authorization": "Bearer nonsense"},
    )
    assert response.status_code == 401
    header = response.headers["www-authenticate"]
    assert header.startswith('Bearer error="invalid_token", error_description=')
    assert f'resource_metadata="{PRM_URL}"' in header


async def test_a_token_for_another_resource_is_refused(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    other = ProtectedResourceSettings(
        resource="http://127.0.0.1:9002/mcp", authorization_servers=(ISSUER,)
    )
    gate = ProtectedResourceGate(
        McpHttpApp(McpServer()), settings=other, verifier=demo.auth.verifier()
    )
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9002") as client:
        response = await client.post(
            "/mcp",
            json=initialize_message(),
            headers={**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"},
        )
    assert response.status_code == 401
    assert "not for http://127.0.0.1:9002/mcp" in response.headers["www-authenticate"]


async def test_a_valid_token_passes_and_the_tool_sees_who_called(
    auth: httpx.AsyncClient, mcp: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
    init = await mcp.post("/mcp", json=initialize_message(), headers=headers)
    assert init.status_code == 200
    headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
    call = await mcp.post("/mcp", json=rpc("tools/call", 2, name="whoami"), headers=headers)
    result = call.json()["result"]
    assert result["structuredContent"]["subject"] == "demo-user"
    assert result["structuredContent"]["client_id"] == tokens["client_id"]


async def test_a_tool_needing_more_scope_gets_403_insufficient_scope() -> None:
    demo = build_demo_servers(
        issuer=ISSUER,
        mcp_url=MCP_URL,
        scope_policy=tool_scopes({"add": ["mcp:math"]}),
        auth_overrides={"scopes_supported": ("mcp", "mcp:math", "offline_access")},
    )
    auth_t = httpx.ASGITransport(app=demo.auth_app)
    mcp_t = httpx.ASGITransport(app=demo.mcp_app)
    async with (
        httpx.AsyncClient(transport=auth_t, base_url=ISSUER) as auth,
        httpx.AsyncClient(transport=mcp_t, base_url="http://127.0.0.1:9001") as mcp,
    ):
        tokens = await login(auth)
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
        init = await mcp.post("/mcp", json=initialize_message(), headers=headers)
        headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
        echo = await mcp.post(
            "/mcp",
            json=rpc("tools/call", 2, name="echo", arguments={"text": "hi"}),
            headers=headers,
        )
        assert echo.status_code == 200
        add = await mcp.post(
            "/mcp",
            json=rpc("tools/call", 3, name="add", arguments={"a": 1, "b": 2}),
            headers=headers,
        )
    assert add.status_code == 403
    header = add.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_scope"')
    assert 'scope="mcp mcp:math offline_access"' in header


async def test_revoked_and_expired_tokens_are_refused_at_the_gate(
    demo: DemoServers, auth: httpx.AsyncClient, mcp: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
    assert (await mcp.post("/mcp", json=initialize_message(), headers=headers)).status_code == 200
    await auth.post(
        "/revoke", data={"token": tokens["access_token"], "client_id": tokens["client_id"]}
    )
    assert (await mcp.post("/mcp", json=initialize_message(), headers=headers)).status_code == 401


async def test_tokens_in_the_query_string_are_not_accepted(
    auth: httpx.AsyncClient, mcp: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    response = await mcp.post(
        "/mcp",
        params={"access_token": tokens["access_token"]},
        json=initialize_message(),
        headers=MCP_HEADERS,
    )
    assert response.status_code == 401


def test_challenge_values_are_quoted_safely() -> None:
    settings = ProtectedResourceSettings(
        resource="https://mcp.example.com/mcp", authorization_servers=("https://as.example",)
    )
    header = bearer_challenge(settings, error="invalid_token", description='bad "token"')
    assert header == (
        'Bearer error="invalid_token", error_description="bad \\"token\\"", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", '
        'scope="mcp"'
    )
