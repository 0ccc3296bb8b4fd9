"""Several proxies sharing one cache directory: separate stores, real OS file locks."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from mcp_oauth2_proxy.auth import AuthSession, create_auth
from mcp_oauth2_proxy.auth.store import FileStore
from tests.support.auth_helpers import FakeClock, FollowingBrowser, PrintOnlyBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


class GatedBrowser(FollowingBrowser):
    """A user who takes their time: follows the URL only when told to."""

    def __init__(self, as_client: httpx.AsyncClient) -> None:
        super().__init__(as_client)
        self.opened = asyncio.Event()
        self.go = asyncio.Event()

    def open(self, url: str) -> bool:
        self.opened.set()
        self.urls.append(url)
        self.tasks.append(asyncio.get_running_loop().create_task(self._later(url)))
        return True

    async def _later(self, url: str) -> None:
        await self.go.wait()
        await self._follow(url)


async def proxy(
    http: httpx.AsyncClient, tmp_path: Path, opener: object, clock: FakeClock
) -> AuthSession:
    """One 'process': its own store object and manager over the shared directory."""
    return await create_auth(
        make_settings(tokenStore="file", tokenCacheDir=str(tmp_path)),
        http,
        store=FileStore(tmp_path),
        opener=opener,  # type: ignore[arg-type]
        clock=clock,
        stderr=io.StringIO(),
    )


async def test_a_proxy_adopts_the_refresh_token_another_proxy_rotated(
    server: FakeAuthServer, http: httpx.AsyncClient, browser: FollowingBrowser, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = await proxy(http, tmp_path, browser, clock)
    await first.prefetch()
    await browser.settle()
    second = await proxy(http, tmp_path, PrintOnlyBrowser(), clock)
    await second.prefetch()  # refreshes with the stored token, which rotates
    clock.advance(4000)
    for session in (first, second, first, second):
        response = await http.post(RESOURCE, content=PING, auth=session.auth)
        assert response.status_code == 200
    assert server.reuse_detected == 0
    assert server.revoked_families == set()


async def test_only_one_proxy_logs_in_while_the_others_wait_for_its_result(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    gated = GatedBrowser(http)
    waiting = PrintOnlyBrowser()
    first = await proxy(http, tmp_path, gated, FakeClock())
    second = await proxy(http, tmp_path, waiting, FakeClock())
    login = asyncio.create_task(first.prefetch())
    await gated.opened.wait()
    follower = asyncio.create_task(second.prefetch())
    await asyncio.sleep(0.1)  # the follower polls the lock meanwhile; it must not log in
    assert not follower.done()
    gated.go.set()
    await asyncio.gather(login, follower)
    await gated.settle()
    assert waiting.urls == []
    assert [r["grant_type"] for r in server.token_requests] == [
        "authorization_code",
        "refresh_token",
    ]


async def test_a_waiting_proxy_takes_over_when_the_one_logging_in_goes_away(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    gated = GatedBrowser(http)
    first = await proxy(http, tmp_path, gated, FakeClock())
    second_browser = FollowingBrowser(http)
    second = await proxy(http, tmp_path, second_browser, FakeClock())
    login = asyncio.create_task(first.prefetch())
    await gated.opened.wait()
    follower = asyncio.create_task(second.prefetch())
    login.cancel()  # the first proxy is closed mid-login; its lock is released
    with pytest.raises(asyncio.CancelledError):
        await login
    await follower
    await second_browser.settle()
    for task in gated.tasks:
        task.cancel()
    await asyncio.gather(*gated.tasks, return_exceptions=True)
    assert len(second_browser.urls) == 1
    assert (await http.post(RESOURCE, content=PING, auth=second.auth)).status_code == 200
