"""The demo command: the README's first command works on a fresh machine, and --serve serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from mcp import ClientSession, StdioServerParameters, stdio_client

from mcp_oauth2_proxy.commands.demo import proxy_environment

BROWSER = Path(__file__).parent.parent / "support" / "headless_browser.py"


def test_headless_demo_narrates_a_full_zero_configuration_session() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_oauth2_proxy", "demo", "--headless"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    transcript = proc.stderr
    for step in (
        "POST /mcp -> 401",
        "GET /.well-known/oauth-protected-resource/mcp -> 200",
        "GET /.well-known/oauth-authorization-server -> 200",
        "POST /register -> 201",
        "GET /authorize -> 302",
        "grant_type=authorization_code",
        "tools/list: echo, add, get_time, slow_count, whoami",
        "tools/call add → 42",
        "progress 3/3",
        "the proxy exited with code 0",
    ):
        assert step in transcript, step
    assert transcript.index("POST /register") < transcript.index("GET /authorize")


def test_the_demo_never_passes_the_users_proxy_settings_on() -> None:
    env = proxy_environment(
        {"OAUTH2_CLIENT_ID": "mine", "UPSTREAM_URL": "https://x", "HOME": "/h"}, headless=True
    )
    assert "OAUTH2_CLIENT_ID" not in env
    assert "UPSTREAM_URL" not in env
    assert env["HOME"] == "/h"
    assert env["OAUTH2_TOKEN_STORE"] == "memory"
    assert env["OAUTH2_OPEN_BROWSER"] == "false"


@pytest.mark.anyio
async def test_serve_mode_prints_a_client_configuration_that_works(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mcp_oauth2_proxy", "demo", "--serve", "--headless"]
    async with await anyio.open_process(command, stdin=subprocess.DEVNULL) as server:
        try:
            assert server.stderr is not None
            snippet = await read_snippet(TextReceiveStream(server.stderr))
            entry = snippet["mcpServers"]["oauth-demo"]
            assert entry["command"] == "uvx"
            params = StdioServerParameters(
                command=sys.executable,
                args=["-m", "mcp_oauth2_proxy", entry["args"][-1]],
                env={
                    **os.environ,
                    "OAUTH2_TOKEN_STORE": "memory",
                    "OAUTH2_CALLBACK_PORT": "0",
                    "BROWSER": f"{sys.executable} {BROWSER}",
                },
            )
            with (tmp_path / "proxy.log").open("w") as proxy_err:
                async with (
                    stdio_client(params, errlog=proxy_err) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    result = await session.call_tool("add", {"a": 1, "b": 2})
            assert "3" in result.content[0].text  # type: ignore[union-attr]
        finally:
            server.terminate()
            await server.wait()


async def read_snippet(stderr: TextReceiveStream) -> Any:
    """Collect the demo's stderr until it says it is serving; return the JSON snippet in it."""
    text = ""
    with anyio.fail_after(30):
        async for chunk in stderr:
            text += chunk
            if "serving until Ctrl-C" in text:
                return json.loads(text[text.index("{") : text.rindex("}") + 1])
    raise AssertionError(f"the demo stopped before serving: {text}")
