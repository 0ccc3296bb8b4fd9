"""Real peers: the MCP SDK server as a subprocess, the real CLI under the SDK's stdio client."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

SERVER = Path(__file__).with_name("sdk_server.py")
MODES = {
    "stateful-sse": [],
    "stateful-json": ["--json"],
    "stateless-sse": ["--stateless"],
    "stateless-json": ["--stateless", "--json"],
    "resumable": ["--event-store"],
}
LEGACY_SSE = ["--sse"]


class Upstream:
    """An SDK server subprocess on 127.0.0.1 that can be restarted on the same port."""

    def __init__(self, flags: list[str]) -> None:
        self.flags = flags
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    @property
    def url(self) -> str:
        path = "/sse" if "--sse" in self.flags else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(SERVER), "--port", str(self.port), *self.flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module", params=list(MODES))
def upstream(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    server = Upstream(MODES[request.param])
    yield server
    server.stop()


def proxy_params(url: str, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_oauth2_proxy", url, "--grant", "none", *extra],
        env={"LOG_LEVEL": "warn", "LOG_FORMAT": "json", **os.environ, **(env or {})},
    )


@asynccontextmanager
async def proxied_session(
    url: str,
    *extra: str,
    discover: bool = False,
    log_path: Path | None = None,
    **callbacks: Any,
) -> AsyncIterator[ClientSession]:
    """The SDK client on the real CLI; ``discover`` speaks 2026-07-28 instead of initializing."""
    env = {"LOG_LEVEL": "info"} if log_path is not None else None
    with (log_path or Path(os.devnull)).open("w") as errlog:
        async with (
            stdio_client(proxy_params(url, *extra, env=env), errlog=errlog) as (read, write),
            ClientSession(read, write, **callbacks) as session,
        ):
            if discover:
                await session.discover()
            else:
                await session.initialize()
            yield session
