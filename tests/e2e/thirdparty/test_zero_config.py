"""Zero configuration: the proxy registers itself at oidc-provider (RFC 7591) and logs in."""

from __future__ import annotations

import anyio
import pytest

from .conftest import Peers, log_in_with_browser, whoami

pytestmark = pytest.mark.anyio


async def test_with_no_oauth_settings_the_proxy_registers_logs_in_and_reuses_both(
    peers: Peers,
) -> None:
    env = peers.proxy_env()  # no client id, no endpoints, no scope: all discovered
    with anyio.fail_after(90):
        who = await log_in_with_browser(peers, env)
        [registered] = peers.provider.events("registration_create.success")
        assert registered["application_type"] == "native"
        assert registered["token_endpoint_auth_method"] == "none"
        assert {"authorization_code", "refresh_token"} <= set(registered["grant_types"])
        assert who == f"ada via {registered['client_id']} for {peers.upstream.url}"

        async with peers.relay(browser=False) as nobody, peers.session(env, nobody) as session:
            again = await whoami(session)
    assert again == who
    assert nobody.urls == []
    assert len(peers.provider.events("registration_create.success")) == 1, "registration reused"
    assert len(peers.provider.grants("refresh_token")) == 1
