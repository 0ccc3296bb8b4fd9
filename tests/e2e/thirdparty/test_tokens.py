"""Token lifecycles at oidc-provider: client credentials, rotation under load, revocation."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from mcp import ClientSession

from .conftest import Peers, log_in_with_browser, whoami
from .peers import PUBLIC_CLIENT, SERVICE_CLIENT, SERVICE_SECRET

pytestmark = pytest.mark.anyio
ROTATIONS = 3


async def test_client_credentials_reach_the_upstream_without_any_browser(peers: Peers) -> None:
    env = peers.proxy_env(
        OAUTH2_GRANT="client_credentials",
        OAUTH2_CLIENT_ID=SERVICE_CLIENT,
        OAUTH2_CLIENT_SECRET=SERVICE_SECRET,
    )
    with anyio.fail_after(60):
        async with peers.relay(browser=False) as nobody, peers.session(env, nobody) as session:
            tools = await session.list_tools()
            who = await whoami(session)
    assert "echo" in {t.name for t in tools.tools}
    assert who == f"{SERVICE_CLIENT} via {SERVICE_CLIENT} for {peers.upstream.url}"
    assert nobody.urls == []
    assert len(peers.provider.grants("client_credentials")) == 1
    assert SERVICE_SECRET not in peers.proxy_log.read_text()


async def calls_until_rotated(peers: Peers, sessions: list[ClientSession], rotations: int) -> int:
    """Keep several calls in flight on every session until the provider rotated enough times."""
    calls = 0
    with anyio.fail_after(45):
        while len(peers.provider.grants("refresh_token")) < rotations:
            async with anyio.create_task_group() as tg:
                for n, session in enumerate(sessions * 4):
                    tg.start_soon(checked_call, session, n)
            calls += 4 * len(sessions)
    return calls


async def checked_call(session: ClientSession, n: int) -> None:
    if n % 2:
        result = await session.call_tool("slow", {"seconds": 0.2})
        assert result.content[0].text == "slept 0.2", result  # type: ignore[union-attr]
    else:
        result = await session.call_tool("echo", {"text": f"call {n}"})
        assert result.content[0].text == f"call {n}", result  # type: ignore[union-attr]


def assert_rotation_never_burned_a_token(peers: Peers) -> None:
    rotated = len(peers.provider.grants("refresh_token"))
    assert peers.provider.events("grant.error") == []
    assert peers.provider.events("grant.revoked") == [], "a refresh token was used twice"
    assert len(peers.provider.refresh_tokens("consumed")) == rotated
    assert len(peers.provider.refresh_tokens("active")) == 1


async def test_short_lived_tokens_rotate_under_concurrent_calls_without_a_failure(
    start_peers: Callable[..., Peers],
) -> None:
    peers = start_peers(access_token_ttl=2)
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    with anyio.fail_after(60):
        async with peers.relay() as relay, peers.session(env, relay) as session:
            calls = await calls_until_rotated(peers, [session], ROTATIONS)
    assert calls >= ROTATIONS
    assert len(relay.visits) == 1, "rotation never needed a second login"
    assert_rotation_never_burned_a_token(peers)


async def test_two_proxies_sharing_one_store_rotate_one_refresh_token_safely(
    start_peers: Callable[..., Peers],
) -> None:
    peers = start_peers(access_token_ttl=2)
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    with anyio.fail_after(90):
        await log_in_with_browser(peers, env)
        async with peers.relay(browser=False) as nobody:
            quiet = env | {"OAUTH2_INTERACTIVE": "false"}
            async with (
                peers.session(quiet, nobody) as first,
                peers.session(quiet, nobody) as second,
            ):
                await calls_until_rotated(peers, [first, second], ROTATIONS + 2)
    assert nobody.urls == []
    assert_rotation_never_burned_a_token(peers)


async def test_a_revoked_refresh_token_sends_the_user_back_to_the_browser(peers: Peers) -> None:
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    with anyio.fail_after(90):
        await log_in_with_browser(peers, env)
        assert peers.provider.revoke_refresh_tokens() == 1

        async with peers.relay() as relay, peers.session(env, relay) as session:
            who = await whoami(session)
    assert who == f"ada via {PUBLIC_CLIENT} for {peers.upstream.url}"
    assert [v.pages for v in relay.visits] == [["login", "consent"]]
    [refused] = peers.provider.events("grant.error")
    assert (refused["grant_type"], refused["error"]) == ("refresh_token", "invalid_grant")
    assert len(peers.provider.grants("authorization_code")) == 2
