"""``mcp-oauth2-proxy logout`` revokes the stored refresh token at oidc-provider (RFC 7009)."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest

from .conftest import Peers, log_in_with_browser
from .peers import PUBLIC_CLIENT

pytestmark = pytest.mark.anyio


async def test_logout_revokes_the_login_at_the_provider_and_forgets_it(peers: Peers) -> None:
    env = {**os.environ, **peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT)}
    env["UPSTREAM_URL"] = peers.upstream.url
    with anyio.fail_after(90):
        await log_in_with_browser(peers, env)
        assert len(peers.provider.refresh_tokens("active")) == 1

        logout = await anyio.run_process(
            [sys.executable, "-m", "mcp_oauth2_proxy", "logout"], env=env, check=False
        )
        assert logout.returncode == 0, logout.stderr.decode()
        assert peers.provider.events("http.revocation"), "logout never called the endpoint"
        assert peers.provider.refresh_tokens("active") == []
        assert peers.provider.events("revocation.error") == []

        quiet = env | {"OAUTH2_INTERACTIVE": "false"}
        async with await anyio.open_process(
            [sys.executable, "-m", "mcp_oauth2_proxy"], env=quiet, stderr=subprocess.PIPE
        ) as proxy:  # stdin stays open: without a login the proxy has to end by itself
            assert await proxy.wait() == 3
            assert proxy.stderr is not None
            said = (await proxy.stderr.receive()).decode()
    assert "log in" in said
