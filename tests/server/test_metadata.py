from __future__ import annotations

import httpx
import pytest

from mcp_oauth2_proxy.server import DemoServers, StaticMetadataFetcher, build_demo_servers

from .flows import (
    ISSUER,
    MCP_URL,
    REDIRECT_URI,
    authorize_params,
    new_pkce,
    redirect_query,
    register,
)

pytestmark = pytest.mark.anyio


async def test_authorization_server_metadata_advertises_every_endpoint_and_capability(
    auth: httpx.AsyncClient,
) -> None:
    response = await auth.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("revocation_endpoint", "/revoke"),
        ("device_authorization_endpoint", "/device_authorization"),
    ]:
        assert doc[name] == ISSUER + path
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "offline_access" in doc["scopes_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["client_id_metadata_document_supported"] is True
    assert set(doc["grant_types_supported"]) >= {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    openid = await auth.get("/.well-known/openid-configuration")
    assert openid.json() == doc


async def test_an_issuer_with_a_path_serves_metadata_by_insertion_and_by_appending() -> None:
    demo = build_demo_servers(issuer=ISSUER + "/tenant", mcp_url=MCP_URL)
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        for path in [
            "/.well-known/oauth-authorization-server/tenant",
            "/.well-known/openid-configuration/tenant",
            "/tenant/.well-known/openid-configuration",
        ]:
            doc = (await client.get(path)).json()
            assert doc["issuer"] == ISSUER + "/tenant"
            assert doc["token_endpoint"] == ISSUER + "/tenant/token"
        assert (await client.get("/.well-known/oauth-authorization-server")).status_code == 404


async def test_public_client_registration_returns_a_client_id_without_secret(
    auth: httpx.AsyncClient,
) -> None:
    client = await register(auth)
    assert client["client_id"]
    assert "client_secret" not in client
    assert client["token_endpoint_auth_method"] == "none"
    assert client["redirect_uris"] == [REDIRECT_URI]
    assert client["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_confidential_client_registration_returns_a_secret(
    auth: httpx.AsyncClient, method: str
) -> None:
    client = await register(auth, token_endpoint_auth_method=method)
    assert client["client_secret"]
    assert client["client_secret_expires_at"] == 0
    assert client["token_endpoint_auth_method"] == method


async def test_registration_without_auth_method_defaults_to_client_secret_basic(
    auth: httpx.AsyncClient,
) -> None:
    response = await auth.post("/register", json={"redirect_uris": [REDIRECT_URI]})
    assert response.status_code == 201
    assert response.json()["token_endpoint_auth_method"] == "client_secret_basic"


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/callback",
        "http://127.0.0.1.evil.test/callback",
        "https://app.example/cb#frag",
        "javascript:alert(1)",
        "not a url",
    ],
)
async def test_registration_refuses_unsafe_redirect_uris(auth: httpx.AsyncClient, uri: str) -> None:
    response = await auth.post(
        "/register", json={"redirect_uris": [uri], "token_endpoint_auth_method": "none"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": [REDIRECT_URI], "grant_types": ["password"]}, "invalid_client_metadata"),
        (
            {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
            "invalid_client_metadata",
        ),
        (
            {"grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"},
            "invalid_redirect_uri",
        ),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_client_metadata"),
    ],
)
async def test_registration_refuses_inconsistent_metadata(
    auth: httpx.AsyncClient, body: dict[str, object], error: str
) -> None:
    response = await auth.post("/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_loopback_redirect_uris_match_on_any_port(auth: httpx.AsyncClient) -> None:
    client = await register(auth)
    pkce = new_pkce()
    response = await auth.get(
        "/authorize",
        params=authorize_params(
            client["client_id"], pkce, redirect_uri="http://127.0.0.1:40123/callback"
        ),
    )
    assert response.headers["location"].startswith("http://127.0.0.1:40123/callback?code=")


CIMD_URL = "https://client.example/mcp-oauth2-proxy.json"
CIMD = {
    "client_id": CIMD_URL,
    "client_name": "Metadata <b>Client</b>",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "none",
}


def _cimd_demo(document: dict[str, object]) -> tuple[DemoServers, StaticMetadataFetcher]:
    fetcher = StaticMetadataFetcher({CIMD_URL: document})
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, metadata_fetcher=fetcher, approval="consent"
    )
    return demo, fetcher


async def test_a_metadata_document_client_id_is_fetched_and_shown_escaped_on_consent() -> None:
    demo, fetcher = _cimd_demo(CIMD)
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        response = await client.get("/authorize", params=authorize_params(CIMD_URL, new_pkce()))
    assert response.status_code == 200
    assert fetcher.fetched == [CIMD_URL]
    assert "Metadata &lt;b&gt;Client&lt;/b&gt;" in response.text
    assert "<b>Client</b>" not in response.text


@pytest.mark.parametrize(
    "document",
    [
        {**CIMD, "client_id": "https://other.example/doc.json"},
        {**CIMD, "client_secret": "s3cret"},
        {**CIMD, "token_endpoint_auth_method": "client_secret_post"},
        {**CIMD, "redirect_uris": ["http://evil.example/cb"]},
    ],
)
async def test_invalid_metadata_documents_are_refused_without_redirecting(
    document: dict[str, object],
) -> None:
    demo, _ = _cimd_demo(document)
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        response = await client.get("/authorize", params=authorize_params(CIMD_URL, new_pkce()))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_metadata_document_clients_complete_the_code_flow_with_auto_approval() -> None:
    fetcher = StaticMetadataFetcher({CIMD_URL: CIMD})
    demo = build_demo_servers(issuer=ISSUER, mcp_url=MCP_URL, metadata_fetcher=fetcher)
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        pkce = new_pkce()
        query = redirect_query(
            await client.get("/authorize", params=authorize_params(CIMD_URL, pkce))
        )
        response = await client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": pkce.verifier,
                "client_id": CIMD_URL,
            },
        )
    assert response.status_code == 200
    assert response.json()["refresh_token"]


async def test_metadata_failure_injection_makes_discovery_fail_once(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    from mcp_oauth2_proxy.server import Failure

    demo.failures.fail_next("metadata", Failure.server_error(404, "not found"))
    assert (await auth.get("/.well-known/oauth-authorization-server")).status_code == 404
    assert (await auth.get("/.well-known/oauth-authorization-server")).status_code == 200


async def test_the_httpx_fetcher_reads_documents_and_refuses_redirects_errors_and_huge_ones() -> (
    None
):
    from mcp_oauth2_proxy.server import HttpxMetadataFetcher
    from mcp_oauth2_proxy.server.http import OAuthProtocolError

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ok.json":
            return httpx.Response(200, json=CIMD)
        if request.url.path == "/moved.json":
            return httpx.Response(302, headers={"Location": "https://client.example/ok.json"})
        if request.url.path == "/huge.json":
            return httpx.Response(200, json={**CIMD, "padding": "x" * 10_000})
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as http:
        fetcher = HttpxMetadataFetcher(http)
        assert (await fetcher.fetch("https://client.example/ok.json"))["client_id"] == CIMD_URL
        for path in ["/moved.json", "/huge.json", "/missing.json"]:
            with pytest.raises(OAuthProtocolError) as caught:
                await fetcher.fetch("https://client.example" + path)
            assert caught.value.error == "invalid_client"


async def test_an_unreachable_metadata_document_is_invalid_client_at_the_token_endpoint() -> None:
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, metadata_fetcher=StaticMetadataFetcher({})
    )
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        response = await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": CIMD_URL},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
