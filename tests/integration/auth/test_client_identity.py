from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from mcp_oauth2_proxy.auth import AuthSession, create_auth
from mcp_oauth2_proxy.auth.store import MemoryStore
from mcp_oauth2_proxy.errors import AuthError
from tests.support.auth_helpers import FakeClock, FollowingBrowser, PrintOnlyBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
CIMD_URL = "https://app.example.com/mcp-oauth2-proxy.json"


async def call(http: httpx.AsyncClient, session: AuthSession) -> httpx.Response:
    return await http.post(RESOURCE, content=PING, auth=session.auth)


async def start(
    http: httpx.AsyncClient, opener: object, *, store: MemoryStore | None = None, **oauth2: object
) -> AuthSession:
    settings = make_settings(clientId=None, **oauth2)
    return await create_auth(
        settings,
        http,
        opener=opener,
        clock=FakeClock(),
        stderr=io.StringIO(),
        store=store,  # type: ignore[arg-type]
    )


async def test_zero_config_registers_a_native_public_client_and_logs_in(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> None:
    session = await start(http, browser)
    await session.prefetch()
    await browser.settle()
    assert (await call(http, session)).status_code == 200
    [meta] = server.registrations
    assert meta["application_type"] == "native"
    assert meta["token_endpoint_auth_method"] == "none"
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types"])
    # callbackPort 0: a port-agnostic loopback redirect (RFC 8252 §7.3), matched by the listener
    assert meta["redirect_uris"] == ["http://127.0.0.1/callback"]
    assert httpx.URL(browser.urls[0]).params["client_id"] == next(iter(server.clients))


async def test_fixed_callback_port_is_registered_exactly(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    session = await start(http, PrintOnlyBrowser(), callbackPort=53682, interactive=False)
    with pytest.raises(AuthError):
        await session.prefetch()
    assert server.registrations[0]["redirect_uris"] == ["http://127.0.0.1:53682/callback"]


async def test_registration_is_reused_across_restarts(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, tmp_path: Path
) -> None:
    files = {"tokenStore": "file", "tokenCacheDir": str(tmp_path)}
    first = await start(http, browser, **files)
    await first.prefetch()
    await browser.settle()
    second_browser = PrintOnlyBrowser()
    second = await start(http, second_browser, **files)
    assert (await call(http, second)).status_code == 200
    assert len(server.registrations) == 1
    assert second_browser.urls == []
    assert server.token_requests[-1]["grant_type"] == "refresh_token"
    assert server.token_requests[-1]["client_id"] == next(iter(server.clients))


async def test_a_changed_redirect_uri_registers_again(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> None:
    store = MemoryStore()
    first = await start(http, browser, store=store)
    await first.prefetch()
    await browser.settle()
    second = await start(
        http,
        PrintOnlyBrowser(),
        store=store,
        redirectUri="http://127.0.0.1:9999/cb",
        interactive=False,
    )
    with pytest.raises(AuthError):
        await second.prefetch()
    assert [m["redirect_uris"] for m in server.registrations] == [
        ["http://127.0.0.1/callback"],
        ["http://127.0.0.1:9999/cb"],
    ]


async def test_invalid_client_drops_the_registration_and_registers_once_more(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    store = MemoryStore()
    session = await create_auth(
        make_settings(clientId=None),
        http,
        opener=browser,
        clock=clock,
        stderr=io.StringIO(),
        store=store,
    )
    await session.prefetch()
    await browser.settle()
    old = next(iter(server.clients))
    server.reject_client(old)
    clock.advance(4000)  # the next request needs a refresh, which the server refuses
    response = await call(http, session)
    await browser.settle()
    assert response.status_code == 200
    assert len(server.registrations) == 2
    new = next(iter(server.clients))
    assert new != old
    assert all(entry.get("client_id") != old for entry in store.entries.values())


async def test_a_second_invalid_client_is_reported_instead_of_registering_forever(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(clientId=None), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    server.fail_token_endpoint("invalid_client", status=401)
    server.fail_token_endpoint("invalid_client", status=401)
    clock.advance(4000)
    with pytest.raises(AuthError) as caught:
        await session.manager.get_token()  # type: ignore[union-attr]
    await browser.settle()
    assert caught.value.error == "invalid_client"
    assert len(server.registrations) == 2


async def test_client_metadata_document_is_chosen_over_registration_when_advertised(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> None:
    server.cimd_supported = True
    session = await start(http, browser, clientMetadataUrl=CIMD_URL)
    await session.prefetch()
    await browser.settle()
    assert (await call(http, session)).status_code == 200
    assert server.registrations == []
    assert httpx.URL(browser.urls[0]).params["client_id"] == CIMD_URL
    assert server.token_requests[0]["client_id"] == CIMD_URL


async def test_metadata_url_is_not_used_where_the_server_does_not_support_it(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> None:
    session = await start(http, browser, clientMetadataUrl=CIMD_URL)
    await session.prefetch()
    await browser.settle()
    assert len(server.registrations) == 1


async def test_no_client_id_and_no_registration_says_which_setting_to_provide(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.registration_enabled = False
    session = await start(http, PrintOnlyBrowser())
    with pytest.raises(AuthError, match="OAUTH2_CLIENT_ID") as caught:
        await session.prefetch()
    assert "registration" in str(caught.value)
    assert server.registrations == []


async def test_cimd_support_without_a_metadata_url_suggests_it(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    server.registration_enabled = False
    server.cimd_supported = True
    session = await start(http, PrintOnlyBrowser())
    with pytest.raises(AuthError, match="OAUTH2_CLIENT_METADATA_URL"):
        await session.prefetch()


async def test_concurrent_first_starts_register_only_once(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    store = MemoryStore()
    sessions = [
        await start(
            http, PrintOnlyBrowser(), store=store, grant="client_credentials", clientSecret=None
        )
        for _ in range(3)
    ]
    await asyncio.gather(*(s.prefetch() for s in sessions))
    assert len(server.registrations) == 1
    assert server.registrations[0]["token_endpoint_auth_method"] == "client_secret_basic"
    assert server.registrations[0]["grant_types"] == ["client_credentials"]
