from __future__ import annotations

import io

import httpx
import pytest

from mcp_oauth2_proxy.auth import create_auth, resolve_context
from mcp_oauth2_proxy.auth.discovery import DiscoveryOptions, discover
from mcp_oauth2_proxy.auth.server import resolve_server
from mcp_oauth2_proxy.errors import DiscoveryError
from tests.support.auth_helpers import FakeClock, make_settings
from tests.support.oauth_server import ISSUER, RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio


async def test_discovery_follows_the_401_to_resource_and_server_metadata(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    found = await discover(http, RESOURCE)
    assert found.challenge is not None
    assert found.challenge.scope == "mcp:read"
    assert found.resource_metadata is not None
    assert found.issuer == ISSUER
    assert found.server_metadata is not None
    assert found.server_metadata.token_endpoint == f"{ISSUER}/token"
    assert [s.url for s in server.seen] == [
        RESOURCE,
        "https://mcp.test/.well-known/oauth-protected-resource/mcp",
        "https://auth.test/.well-known/oauth-authorization-server",
    ]
    assert "authorization" not in server.seen[0].headers


async def test_resource_metadata_for_another_resource_stops_discovery(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.prm_overrides["resource"] = "https://evil.test/mcp"
    with pytest.raises(DiscoveryError, match="does not cover"):
        await discover(http, RESOURCE)


async def test_server_metadata_naming_another_issuer_stops_discovery(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.metadata_overrides["issuer"] = "https://evil.test"
    with pytest.raises(DiscoveryError, match="issuer"):
        await discover(http, RESOURCE)


async def test_insecure_discovered_endpoint_is_refused(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.metadata_overrides["token_endpoint"] = "http://evil.test/token"
    with pytest.raises(DiscoveryError, match="token_endpoint"):
        await discover(http, RESOURCE)


async def test_insecure_authorization_server_is_refused_unless_allowed(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.prm_overrides["authorization_servers"] = ["ftp://auth.test"]
    with pytest.raises(DiscoveryError, match="authorization server"):
        await discover(http, RESOURCE, options=DiscoveryOptions(allow_insecure_http=True))


async def test_server_without_any_metadata_falls_back_to_2025_03_26_endpoints(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.prm_enabled = False
    server.as_metadata_enabled = False
    found = await discover(http, RESOURCE)
    assert found.legacy
    resolved = resolve_server(make_settings(), found)
    assert resolved.authorization_endpoint == "https://mcp.test/authorize"
    assert resolved.token_endpoint == "https://mcp.test/token"
    assert resolved.registration_endpoint == "https://mcp.test/register"
    assert resolved.resource == RESOURCE


async def test_explicit_configuration_wins_over_discovery(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    settings = make_settings(
        tokenUrl="https://idp.test/oauth/token",
        authorizationUrl="https://idp.test/oauth/authorize",
        scope="custom",
        resource="https://mcp.test/",
    )
    ctx = await resolve_context(settings, http, FakeClock())
    assert ctx.server.token_endpoint == "https://idp.test/oauth/token"
    assert ctx.server.authorization_endpoint == "https://idp.test/oauth/authorize"
    assert ctx.server.scope == "custom"
    assert ctx.server.resource == "https://mcp.test/"


async def test_discovery_disabled_sends_nothing_before_the_token_request(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    settings = make_settings(
        {"discovery": {"enabled": False}}, grant="client_credentials", tokenUrl=f"{ISSUER}/token"
    )
    session = await create_auth(settings, http, clock=FakeClock())
    await session.prefetch()
    assert [s.url for s in server.seen] == [f"{ISSUER}/token"]
    assert server.token_requests[0]["resource"] == RESOURCE


async def test_failed_discovery_with_configured_endpoints_continues(
    server: FakeAuthServer, http: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    server.metadata_overrides["issuer"] = "https://evil.test"
    settings = make_settings(grant="client_credentials", tokenUrl=f"{ISSUER}/token")
    session = await create_auth(settings, http, clock=FakeClock())
    await session.prefetch()
    assert "oauth.discovery_failed" in log_stream.getvalue()


async def test_failed_discovery_without_configured_endpoints_is_an_error(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.metadata_overrides["issuer"] = "https://evil.test"
    session = await create_auth(make_settings(grant="client_credentials"), http, clock=FakeClock())
    with pytest.raises(DiscoveryError):
        await session.prefetch()


# ---------------------------------------------------------------- with a scripted transport


def scripted(routes: dict[str, httpx.Response], seen: list[str]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_header_url_is_tried_first_and_issuer_paths_in_spec_order() -> None:
    seen: list[str] = []
    meta_url = "https://mcp.test/custom-prm"
    routes = {
        RESOURCE: httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer resource_metadata="{meta_url}"'}
        ),
        meta_url: httpx.Response(
            200, json={"resource": RESOURCE, "authorization_servers": ["https://auth.test/tenant"]}
        ),
        "https://auth.test/tenant/.well-known/openid-configuration": httpx.Response(
            200,
            json={
                "issuer": "https://auth.test/tenant",
                "authorization_endpoint": "https://auth.test/tenant/authorize",
                "token_endpoint": "https://auth.test/tenant/token",
            },
        ),
    }
    async with scripted(routes, seen) as client:
        found = await discover(client, RESOURCE)
    assert found.issuer == "https://auth.test/tenant"
    assert seen == [
        RESOURCE,
        meta_url,
        "https://auth.test/.well-known/oauth-authorization-server/tenant",
        "https://auth.test/.well-known/openid-configuration/tenant",
        "https://auth.test/tenant/.well-known/openid-configuration",
    ]


async def test_path_then_root_protected_resource_metadata_when_no_header() -> None:
    seen: list[str] = []
    routes = {
        "https://mcp.test/.well-known/oauth-protected-resource": httpx.Response(
            200, json={"resource": "https://mcp.test", "authorization_servers": [ISSUER]}
        ),
    }
    async with scripted(routes, seen) as client:
        found = await discover(client, RESOURCE)
    assert found.resource_metadata is not None
    assert seen[:3] == [
        RESOURCE,
        "https://mcp.test/.well-known/oauth-protected-resource/mcp",
        "https://mcp.test/.well-known/oauth-protected-resource",
    ]


async def test_oversized_metadata_is_refused() -> None:
    routes = {
        "https://mcp.test/.well-known/oauth-protected-resource/mcp": httpx.Response(
            200, content=b"{" + b" " * (600 * 1024) + b"}"
        )
    }
    async with scripted(routes, []) as client:
        with pytest.raises(DiscoveryError, match="larger than"):
            await discover(client, RESOURCE)


async def test_unreachable_metadata_server_is_a_discovery_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(DiscoveryError, match="could not reach"):
            await discover(client, RESOURCE)


async def test_malformed_metadata_is_skipped() -> None:
    routes = {
        "https://mcp.test/.well-known/oauth-protected-resource/mcp": httpx.Response(
            200, content=b"nope"
        ),
        "https://mcp.test/.well-known/oauth-protected-resource": httpx.Response(200, json={"x": 1}),
    }
    async with scripted(routes, []) as client:
        found = await discover(client, RESOURCE)
    assert found.resource_metadata is None
    assert found.legacy


async def test_probe_does_not_carry_the_clients_default_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(
        transport=transport, headers={"X-Secret": "upstream-key"}
    ) as client:
        await discover(client, RESOURCE, probe_headers={"X-Api": "probe-only"})
    assert all("x-secret" not in r.headers for r in seen)
    assert seen[0].headers["x-api"] == "probe-only"
    assert all("x-api" not in r.headers for r in seen[1:])


async def test_iss_is_not_checked_against_a_server_whose_endpoint_was_overridden(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    ctx = await resolve_context(
        make_settings(authorizationUrl="https://idp.test/authorize"), http, FakeClock()
    )
    assert ctx.server.issuer == ISSUER
    assert ctx.server.response_issuer is None
    assert not ctx.server.iss_supported
