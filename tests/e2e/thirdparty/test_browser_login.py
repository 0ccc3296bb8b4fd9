"""Browser logins at oidc-provider through Chromium, then MCP calls through the real CLI."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from .conftest import Peers
from .peers import PUBLIC_CLIENT
from .relay import BrowserRelay

pytestmark = pytest.mark.anyio
LOGGED_IN = "You are logged in"


async def echo_and_whoami(
    peers: Peers, env: dict[str, str], relay: BrowserRelay
) -> tuple[set[str], str, str]:
    async with peers.session(env, relay) as session:
        tools = await session.list_tools()
        echo = await session.call_tool("echo", {"text": "through oidc-provider"})
        who = await session.call_tool("whoami", {})
    return (
        {t.name for t in tools.tools},
        echo.content[0].text,  # type: ignore[union-attr]
        who.content[0].text,  # type: ignore[union-attr]
    )


async def test_a_pre_registered_client_logs_in_in_the_browser_and_restarts_without_it(
    peers: Peers,
) -> None:
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    with anyio.fail_after(90):
        async with peers.relay() as relay:
            tools, echo, who = await echo_and_whoami(peers, env, relay)
        assert {"echo", "whoami"} <= tools
        assert echo == "through oidc-provider"
        assert who == f"ada via {PUBLIC_CLIENT} for {peers.upstream.url}"
        [visit] = relay.visits
        assert visit.pages == ["login", "consent"]
        assert LOGGED_IN in visit.final_text
        assert peers.provider.grants("authorization_code")

        async with peers.relay(browser=False) as nobody:
            quiet = env | {"OAUTH2_INTERACTIVE": "false"}
            _, echo, who = await echo_and_whoami(peers, quiet, nobody)
        assert nobody.urls == [], "the stored refresh token replaced the browser"
        assert echo == "through oidc-provider"
        assert who.startswith("ada via ")
        assert len(peers.provider.grants("refresh_token")) == 1
        assert peers.provider.events("grant.error") == []


async def test_an_openid_provider_with_default_policy_still_grants_a_lasting_login(
    start_peers: Callable[..., Peers],
) -> None:
    peers = start_peers(strict_offline_access=True)
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    with anyio.fail_after(60):
        async with peers.relay() as relay:
            await echo_and_whoami(peers, env, relay)
    assert peers.provider.refresh_tokens("active"), "no refresh token: every start needs a login"
