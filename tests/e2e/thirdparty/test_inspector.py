"""The official MCP Inspector (CLI mode) drives the real CLI against the protected upstream."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import pytest

from .conftest import Peers
from .peers import PUBLIC_CLIENT, inspector_cli
from .relay import BrowserRelay

pytestmark = pytest.mark.anyio


async def inspect(peers: Peers, env: dict[str, str], relay: BrowserRelay, *method: str) -> Any:
    env = env | {"E2E_BROWSER_RELAY": relay.address}
    home = peers.home / "inspector-home"
    home.mkdir(exist_ok=True)
    argv = inspector_cli(
        [sys.executable, "-m", "mcp_oauth2_proxy", peers.upstream.url], env, *method
    )
    result = await anyio.run_process(
        argv,
        check=False,
        env={**os.environ, "HOME": str(home), "MCP_CATALOG_PATH": str(home / "catalog.json")},
    )
    log = peers.artifacts / f"inspector-{method[0].replace('/', '-')}.log"
    await anyio.Path(log).write_bytes(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout)


async def test_the_inspector_lists_and_calls_tools_after_a_browser_login(peers: Peers) -> None:
    env = peers.proxy_env(OAUTH2_CLIENT_ID=PUBLIC_CLIENT, LOG_LEVEL="warn")
    with anyio.fail_after(120):
        async with peers.relay() as relay:
            listed = await inspect(peers, env, relay, "tools/list")
        async with peers.relay(browser=False) as nobody:
            called = await inspect(
                peers,
                env,
                nobody,
                "tools/call",
                "--tool-name",
                "whoami",
            )
    assert {"echo", "whoami"} <= {tool["name"] for tool in listed["tools"]}
    assert [v.pages for v in relay.visits] == [["login", "consent"]]
    assert called["isError"] is False
    assert called["content"][0]["text"] == f"ada via {PUBLIC_CLIENT} for {peers.upstream.url}"
    assert nobody.urls == [], "the second Inspector run used the stored login"
