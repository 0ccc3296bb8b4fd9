from __future__ import annotations

import io

import httpx
import pytest

from mcp_oauth2_proxy.auth import create_auth
from mcp_oauth2_proxy.errors import AuthError
from tests.support.auth_helpers import FakeClock, FollowingBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


async def test_insufficient_scope_logs_in_again_with_the_union_of_scopes(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    server.required_scope = "mcp:read mcp:write"
    response = await http.post(RESOURCE, content=PING, auth=session.auth)
    await browser.settle()
    assert response.status_code == 200
    scopes = [httpx.URL(u).params["scope"].split() for u in browser.urls]
    assert scopes[0] == ["mcp:read", "offline_access"]
    assert set(scopes[1]) == {"mcp:read", "offline_access", "mcp:write"}
    # later requests keep the wider token: no more logins
    assert (await http.post(RESOURCE, content=PING, auth=session.auth)).status_code == 200
    assert len(browser.urls) == 2


async def test_step_up_stops_after_two_attempts_and_fails_the_request(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    server.required_scope = "mcp:admin"
    server.grantable_scopes = {"mcp:read", "offline_access"}  # the user never gets admin
    with pytest.raises(AuthError, match="scope") as caught:
        await http.post(RESOURCE, content=PING, auth=session.auth)
    await browser.settle()
    assert caught.value.error == "insufficient_scope"
    assert len(browser.urls) == 3  # the first login plus two step-ups
    assert "mcp:admin" in httpx.URL(browser.urls[-1]).params["scope"]


async def test_client_credentials_step_up_requests_the_wider_scope(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.client_secret = "s3cret"
    settings = make_settings(grant="client_credentials", clientSecret="s3cret", scope="mcp:read")
    session = await create_auth(settings, http, clock=clock, stderr=io.StringIO())
    server.required_scope = "mcp:read mcp:write"
    response = await http.post(RESOURCE, content=PING, auth=session.auth)
    assert response.status_code == 200
    assert [r.get("scope") for r in server.token_requests] == ["mcp:read", "mcp:read mcp:write"]


async def test_step_up_without_interaction_fails_with_advice(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    seed = server.issue_refresh_token()
    settings = make_settings(refreshToken=seed, interactive=False)
    session = await create_auth(settings, http, clock=clock, stderr=io.StringIO())
    server.required_scope = "mcp:write"
    with pytest.raises(AuthError, match="mcp:write") as caught:
        await http.post(RESOURCE, content=PING, auth=session.auth)
    assert caught.value.error == "insufficient_scope"
