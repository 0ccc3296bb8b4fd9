from __future__ import annotations

import io
import json
import sys
from urllib.parse import urlsplit

import httpx
import pytest
import structlog

from mcp_oauth2_proxy.auth import create_auth
from mcp_oauth2_proxy.log import configure_logging
from tests.support.auth_helpers import FakeClock, FollowingBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


async def exercise(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> list[str]:
    """Log in, call, force a refresh and a 401 retry; return every credential that existed."""
    clock = FakeClock()
    session = await create_auth(
        make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
    )
    await session.prefetch()
    await browser.settle()
    await http.post(RESOURCE, content=PING, auth=session.auth)
    clock.advance(4000)
    await http.post(RESOURCE, content=PING, auth=session.auth)
    server.expire_access_tokens()
    await http.post(RESOURCE, content=PING, auth=session.auth)
    await http.get("https://elsewhere.test/mcp", auth=session.auth)
    access = [
        s.headers["authorization"][7:]
        for s in server.seen
        if "authorization" in s.headers and s.url == RESOURCE
    ]
    refresh = [r["refresh_token"] for r in server.token_requests if "refresh_token" in r]
    codes = [r["code"] for r in server.token_requests if "code" in r]
    verifiers = [r["code_verifier"] for r in server.token_requests if "code_verifier" in r]
    secrets = access + refresh + codes + verifiers + list(server.refresh_tokens)
    assert len(set(access)) >= 3
    assert refresh
    return secrets


async def test_tokens_never_reach_logs_at_debug_level(
    server: FakeAuthServer,
    http: httpx.AsyncClient,
    browser: FollowingBrowser,
    log_stream: io.StringIO,
) -> None:
    secrets = await exercise(server, http, browser)
    logs = log_stream.getvalue()
    assert "oauth.token_refreshed" in logs
    for secret in secrets:
        assert secret not in logs


async def test_tokens_never_reach_stdout_or_stderr(
    server: FakeAuthServer,
    http: httpx.AsyncClient,
    browser: FollowingBrowser,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="debug", fmt="console", stream=sys.stderr)
    try:
        secrets = await exercise(server, http, browser)
    finally:
        structlog.reset_defaults()
    out, err = capfd.readouterr()
    assert out == ""
    assert "oauth.token_refreshed" in err
    for secret in secrets:
        assert secret not in err


async def test_tokens_go_only_to_the_upstream_and_the_token_endpoint(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser
) -> None:
    secrets = await exercise(server, http, browser)
    access = set(server.access_tokens) | {
        s.headers["authorization"][7:]
        for s in server.seen
        if "authorization" in s.headers and s.url == RESOURCE
    }
    for seen in server.seen:
        blob = seen.url + json.dumps(seen.headers) + seen.body
        host, path = urlsplit(seen.url).hostname, urlsplit(seen.url).path
        for secret in secrets:
            if secret in blob:
                if secret in access:
                    assert (host, path) == ("mcp.test", "/mcp"), seen.url
                else:
                    assert (host, path) == ("auth.test", "/token"), seen.url
    elsewhere = [s for s in server.seen if urlsplit(s.url).hostname == "elsewhere.test"]
    assert elsewhere
    assert all("authorization" not in s.headers for s in elsewhere)
