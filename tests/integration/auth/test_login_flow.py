from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from mcp_oauth2_proxy.auth import AuthSession, create_auth
from mcp_oauth2_proxy.auth.pkce import new_pkce
from mcp_oauth2_proxy.auth.store import MemoryStore
from mcp_oauth2_proxy.errors import AuthError
from tests.support.auth_helpers import FakeClock, FollowingBrowser, PrintOnlyBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


async def call_upstream(http: httpx.AsyncClient, session: AuthSession) -> httpx.Response:
    return await http.post(RESOURCE, content=PING, auth=session.auth)


async def test_interactive_login_reaches_the_protected_upstream(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    err = io.StringIO()
    session = await create_auth(make_settings(), http, opener=browser, clock=clock, stderr=err)
    await session.prefetch()
    await browser.settle()
    response = await call_upstream(http, session)
    assert response.status_code == 200
    assert response.json()["result"] == {"ok": True}
    assert browser.urls[0] in err.getvalue()
    assert browser.pages[0].status_code == 200
    assert "logged in" in browser.pages[0].text.lower()
    await session.aclose()


async def test_authorize_request_carries_pkce_state_resource_and_scope(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    query = httpx.URL(browser.urls[0]).params
    assert query["code_challenge_method"] == "S256"
    assert query["resource"] == RESOURCE
    assert query["scope"] == "mcp:read offline_access"
    assert len(query["state"]) >= 32
    exchange = server.token_requests[0]
    assert exchange["resource"] == RESOURCE
    assert exchange["grant_type"] == "authorization_code"


async def test_second_start_reuses_the_stored_refresh_token_without_a_browser(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, tmp_path: Path
) -> None:
    settings = make_settings(tokenStore="file", tokenCacheDir=str(tmp_path))
    first = await create_auth(
        settings, http, opener=browser, clock=FakeClock(), stderr=io.StringIO()
    )
    await first.prefetch()
    await browser.settle()
    second_browser = PrintOnlyBrowser()
    second = await create_auth(
        settings, http, opener=second_browser, clock=FakeClock(), stderr=io.StringIO()
    )
    assert (await call_upstream(http, second)).status_code == 200
    assert second_browser.urls == []
    assert server.token_requests[-1]["grant_type"] == "refresh_token"


async def test_token_is_refreshed_skew_seconds_before_expiry(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    server.token_ttl = 600
    session = await create_auth(
        make_settings(refreshSkewSeconds=60),
        http,
        opener=browser,
        clock=clock,
        stderr=io.StringIO(),
    )
    await session.prefetch()
    await browser.settle()
    clock.advance(539)
    await call_upstream(http, session)
    assert [r["grant_type"] for r in server.token_requests] == ["authorization_code"]
    clock.advance(1)
    await call_upstream(http, session)
    assert [r["grant_type"] for r in server.token_requests] == [
        "authorization_code",
        "refresh_token",
    ]


async def test_concurrent_requests_share_one_refresh(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    clock.advance(4000)
    responses = await asyncio.gather(*(call_upstream(http, session) for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    assert [r["grant_type"] for r in server.token_requests].count("refresh_token") == 1


async def test_upstream_401_invalidates_the_token_and_retries_once(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    server.expire_access_tokens()
    response = await call_upstream(http, session)
    assert response.status_code == 200
    assert server.token_requests[-1]["grant_type"] == "refresh_token"


async def test_rejected_refresh_runs_the_browser_login_again_while_requests_wait(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    store = MemoryStore()
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, store=store, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    server.refresh_tokens.clear()  # the server forgot the grant
    clock.advance(4000)
    response = await call_upstream(http, session)
    await browser.settle()
    assert response.status_code == 200
    assert len(browser.urls) == 2
    stored = next(iter(store.entries.values()))
    assert stored["refresh_token"] in server.refresh_tokens


async def test_rejected_refresh_without_interaction_fails_with_login_advice(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    seed = server.issue_refresh_token()
    server.refresh_tokens.clear()
    session = await create_auth(
        make_settings(refreshToken=seed, interactive=False), http, clock=clock, stderr=io.StringIO()
    )
    with pytest.raises(AuthError) as caught:
        await session.prefetch()
    assert caught.value.error == "invalid_grant"
    assert "OAUTH2_INTERACTIVE" in str(caught.value)


async def test_non_interactive_without_credentials_says_how_to_log_in(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await create_auth(make_settings(interactive=False), http, clock=clock)
    with pytest.raises(AuthError, match="OAUTH2_REFRESH_TOKEN"):
        await session.prefetch()


async def test_pre_supplied_code_and_verifier_skip_the_browser(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    pkce = new_pkce()
    redirect = "http://127.0.0.1:53682/callback"
    code = server.issue_code(redirect, pkce.verifier)
    browser = PrintOnlyBrowser()
    session = await create_auth(
        make_settings(authorizationCode=code, codeVerifier=pkce.verifier, callbackPort=53682),
        http,
        opener=browser,
        clock=clock,
    )
    assert (await call_upstream(http, session)).status_code == 200
    assert browser.urls == []
    assert server.token_requests[0]["code_verifier"] == pkce.verifier


async def test_pre_supplied_code_is_not_redeemed_again_on_the_next_start(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    pkce = new_pkce()
    code = server.issue_code("http://127.0.0.1:53682/callback", pkce.verifier)
    settings = make_settings(
        authorizationCode=code,
        codeVerifier=pkce.verifier,
        callbackPort=53682,
        tokenStore="file",
        tokenCacheDir=str(tmp_path),
        interactive=False,
    )
    await (await create_auth(settings, http, clock=FakeClock())).prefetch()
    await (await create_auth(settings, http, clock=FakeClock())).prefetch()
    grants = [r["grant_type"] for r in server.token_requests]
    assert grants == ["authorization_code", "refresh_token"]


async def test_rotated_seed_refresh_token_is_stored_and_wins_over_the_seed_next_start(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    seed = server.issue_refresh_token()
    settings = make_settings(
        refreshToken=seed, tokenStore="file", tokenCacheDir=str(tmp_path), interactive=False
    )
    await (await create_auth(settings, http, clock=FakeClock())).prefetch()
    await (await create_auth(settings, http, clock=FakeClock())).prefetch()
    used = [r["refresh_token"] for r in server.token_requests]
    assert used[0] == seed
    assert used[1] != seed
    assert server.revoked_families == set()


async def test_a_newly_configured_seed_wins_over_the_stored_token(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    base = {"tokenStore": "file", "tokenCacheDir": str(tmp_path), "interactive": False}
    old = server.issue_refresh_token()
    await (
        await create_auth(make_settings(refreshToken=old, **base), http, clock=FakeClock())
    ).prefetch()
    new = server.issue_refresh_token()
    await (
        await create_auth(make_settings(refreshToken=new, **base), http, clock=FakeClock())
    ).prefetch()
    assert server.token_requests[-1]["refresh_token"] == new


async def test_client_credentials_with_basic_auth_audience_scope_and_resource(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.client_secret = "s3cr&t with space"
    settings = make_settings(
        grant="client_credentials",
        clientSecret="s3cr&t with space",
        authStyle="header",
        audience="https://api.test",
        scope="mcp:write",
        extraParams={"tenant": "t1", "grant_type": "password"},
    )
    session = await create_auth(settings, http, clock=clock)
    assert (await call_upstream(http, session)).status_code == 200
    form = server.token_requests[0]
    assert form == {
        "grant_type": "client_credentials",
        "scope": "mcp:write",
        "audience": "https://api.test",
        "resource": RESOURCE,
        "tenant": "t1",
    }
    token_call = next(s for s in server.seen if s.url.endswith("/token"))
    assert token_call.headers["authorization"].startswith("Basic ")


async def test_client_credentials_auto_picks_basic_when_advertised(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.client_secret = "sec"
    settings = make_settings(grant="client_credentials", clientSecret="sec")
    session = await create_auth(settings, http, clock=clock)
    await session.prefetch()
    token_call = next(s for s in server.seen if s.url.endswith("/token"))
    assert token_call.headers["authorization"].startswith("Basic ")
    assert "client_secret" not in server.token_requests[0]


async def test_client_credentials_body_style_posts_the_secret(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.client_secret = "sec"
    settings = make_settings(grant="client_credentials", clientSecret="sec", authStyle="body")
    await (await create_auth(settings, http, clock=clock)).prefetch()
    assert server.token_requests[0]["client_secret"] == "sec"
    assert server.token_requests[0]["client_id"] == "test-client"


async def test_access_denied_in_the_browser_fails_the_login_with_the_server_error(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    server.deny_authorization = True
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    with pytest.raises(AuthError) as caught:
        await session.prefetch()
    await browser.settle()
    assert caught.value.error == "access_denied"
    assert browser.pages[0].status_code == 400
    assert "&lt;no&gt;" in browser.pages[0].text


async def test_a_response_from_another_issuer_is_refused(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, clock: FakeClock
) -> None:
    server.wrong_iss = True
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    with pytest.raises(AuthError, match="RFC 9207"):
        await session.prefetch()
    await browser.settle()
    assert server.token_requests == []


async def test_open_browser_false_only_prints_the_url(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    err = io.StringIO()
    session = await create_auth(
        make_settings(openBrowser=False, callbackTimeoutSeconds=1), http, clock=clock, stderr=err
    )
    with pytest.raises(AuthError, match="OAUTH2_CALLBACK_TIMEOUT_SECONDS"):
        await session.prefetch()
    assert "https://auth.test/authorize?" in err.getvalue()


async def test_grant_none_adds_no_authorization(http: httpx.AsyncClient) -> None:
    session = await create_auth(make_settings(grant="none"), http)
    await session.prefetch()
    response = await call_upstream(http, session)
    assert response.status_code == 401


async def test_file_store_holds_no_plaintext_after_a_login(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, tmp_path: Path
) -> None:
    settings = make_settings(tokenStore="file", tokenCacheDir=str(tmp_path))
    session = await create_auth(
        settings, http, opener=browser, clock=FakeClock(), stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    secrets = list(server.refresh_tokens) + list(server.access_tokens)
    blobs = await asyncio.to_thread(read_all, tmp_path)
    assert secrets
    assert blobs
    assert not any(s.encode() in blobs for s in secrets)


def read_all(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


async def test_cancelling_a_login_in_progress_closes_the_listener_cleanly(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    opened = asyncio.Event()

    class Watcher(PrintOnlyBrowser):
        def open(self, url: str) -> bool:
            opened.set()
            return super().open(url)

    watcher = Watcher()
    session = await create_auth(
        make_settings(), http, opener=watcher, clock=clock, stderr=io.StringIO()
    )
    task = asyncio.create_task(session.prefetch())
    await opened.wait()
    redirect = httpx.URL(watcher.urls[0]).params["redirect_uri"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await session.aclose()
    async with httpx.AsyncClient(trust_env=False) as real:
        with pytest.raises(httpx.ConnectError):
            await real.get(redirect)


async def test_a_store_that_cannot_be_written_does_not_fail_the_login(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = make_settings(tokenStore="file", tokenCacheDir=str(blocker / "cache"))
    session = await create_auth(
        settings, http, opener=browser, clock=FakeClock(), stderr=io.StringIO()
    )
    assert (await call_upstream(http, session)).status_code == 200
    await browser.settle()
