"""Fixtures for the suite against third-party peers.

Each test gets its own oidc-provider (a certified OpenID provider, from npm),
its own official-SDK MCP server trusting that provider's JWTs, a token cache in
``tmp_path``, and a real Chromium behind the ``BROWSER`` the proxy launches.
Screenshots and the peers' logs go to ``test-artifacts/e2e/<test>/`` and are
kept only when the test fails (or always, with ``E2E_KEEP_ARTIFACTS=1``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from .browser import BrowserUser
from .peers import (
    JwtUpstream,
    OidcProvider,
    require_chromium,
    start_provider,
    start_upstream,
)
from .relay import BrowserRelay

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
RELAY = Path(__file__).with_name("relay_browser.py")
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory for this test's screenshots and logs, removed when the test passes."""
    path = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    if not request.node.stash.get(FAILED, False) and not os.environ.get("E2E_KEEP_ARTIFACTS"):
        shutil.rmtree(path, ignore_errors=True)
        if ARTIFACTS.is_dir() and not any(ARTIFACTS.iterdir()):
            ARTIFACTS.rmdir()


@dataclass
class Peers:
    """The running third-party peers of one test, and where the proxy keeps its state."""

    provider: OidcProvider
    upstream: JwtUpstream
    artifacts: Path
    home: Path
    user: BrowserUser = field(init=False)

    def __post_init__(self) -> None:
        self.user = BrowserUser(self.artifacts)

    @property
    def proxy_log(self) -> Path:
        """The proxy's stderr, appended to by every run."""
        return self.artifacts / "proxy-stderr.log"

    def proxy_env(self, **extra: str) -> dict[str, str]:
        """The proxy's environment: file token store in ``home``, any free callback port."""
        env = {
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
            "OAUTH2_TOKEN_CACHE_DIR": str(self.home / "cache"),
            "OAUTH2_TOKEN_STORE": "file",
            "OAUTH2_CALLBACK_PORT": "0",
            "OAUTH2_CALLBACK_TIMEOUT_SECONDS": "60",
            "BROWSER": f"{sys.executable} {RELAY}",
            "E2E_BROWSER_RELAY": "127.0.0.1:9",  # nobody listens: no browser, unless a relay
        }
        return env | extra

    def relay(self, *, browser: bool = True) -> BrowserRelay:
        """A relay whose URLs the browser user completes (or only records)."""
        if browser:
            require_chromium()
        return BrowserRelay(self.user if browser else None)

    @asynccontextmanager
    async def session(
        self, env: dict[str, str], relay: BrowserRelay | None = None
    ) -> AsyncIterator[ClientSession]:
        """The official SDK stdio client driving the real CLI, its browser behind ``relay``."""
        if relay is not None:
            env = env | {"E2E_BROWSER_RELAY": relay.address}
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcp_oauth2_proxy", self.upstream.url],
            env={**os.environ, **env},
        )
        with self.proxy_log.open("a") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session


async def whoami(session: ClientSession) -> str:
    """Ask the upstream whose verified token carried the call."""
    result = await session.call_tool("whoami", {})
    return result.content[0].text  # type: ignore[union-attr]


async def log_in_with_browser(peers: Peers, env: dict[str, str]) -> str:
    """Start the proxy once, log in through Chromium, return who the upstream saw."""
    async with peers.relay() as relay, peers.session(env, relay) as session:
        who = await whoami(session)
    assert [v.pages for v in relay.visits] == [["login", "consent"]]
    return who


@pytest.fixture
def start_peers(artifacts: Path, tmp_path: Path) -> Iterator[Callable[..., Peers]]:
    """Start a provider (options as for ``start_provider``) and an upstream trusting it."""
    running: list[Peers] = []

    def start(**options: Any) -> Peers:
        provider = start_provider(artifacts / "provider.log", **options)
        try:
            upstream = start_upstream(provider.issuer, artifacts / "upstream.log")
        except BaseException:
            provider.stop()
            raise
        peers = Peers(provider, upstream, artifacts, tmp_path)
        running.append(peers)
        return peers

    yield start
    for peers in running:
        peers.upstream.stop()
        with contextlib.suppress(httpx.HTTPError):  # the events help whoever reads a failure
            events = json.dumps(peers.provider.events(), indent=1)
            (artifacts / "provider-events.json").write_text(events)
        peers.provider.stop()


@pytest.fixture
def peers(start_peers: Callable[..., Peers]) -> Peers:
    """Peers with ten-minute access tokens."""
    return start_peers()
