"""Collaborators for OAuth tests: a fake clock, a browser that follows redirects, settings."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from mcp_oauth2_proxy.config import Settings

from .oauth_server import CLIENT_ID, RESOURCE


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FollowingBrowser:
    """Plays the user's browser: follows the authorize URL, then hits the real loopback callback."""

    def __init__(self, as_client: httpx.AsyncClient, *, rewrite: Any = None) -> None:
        self.as_client = as_client
        self.rewrite = rewrite
        self.urls: list[str] = []
        self.pages: list[httpx.Response] = []
        self.tasks: list[asyncio.Task[None]] = []

    def open(self, url: str) -> bool:
        self.urls.append(url)
        self.tasks.append(asyncio.get_running_loop().create_task(self._follow(url)))
        return True

    async def _follow(self, url: str) -> None:
        answer = await self.as_client.get(url)
        location = answer.headers["location"]
        if self.rewrite is not None:
            location = self.rewrite(location)
        async with httpx.AsyncClient(trust_env=False) as real:
            self.pages.append(await real.get(location))

    async def settle(self) -> None:
        """Wait for every simulated browser tab to finish loading."""
        if self.tasks:
            await asyncio.gather(*self.tasks)


class PrintOnlyBrowser:
    """A browser that is never opened (records what it was asked)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def open(self, url: str) -> bool:
        self.urls.append(url)
        return False


def make_settings(top: dict[str, Any] | None = None, **oauth2: Any) -> Settings:
    """Settings for the test server: callback port 0, memory store, ``oauth2`` overrides."""
    data: dict[str, Any] = {
        "upstream": {"url": RESOURCE},
        "oauth2": {"clientId": CLIENT_ID, "callbackPort": 0, "tokenStore": "memory", **oauth2},
        **(top or {}),
    }
    return Settings.model_validate(data)
