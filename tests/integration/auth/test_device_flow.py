from __future__ import annotations

import io

import httpx
import pytest

from mcp_oauth2_proxy.auth import create_auth
from mcp_oauth2_proxy.errors import AuthError
from tests.support.auth_helpers import FakeClock, make_settings
from tests.support.oauth_server import ISSUER, RESOURCE, FakeAuthServer

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


class Sleeper:
    """Records the waits and moves the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


async def device_session(
    http: httpx.AsyncClient, clock: FakeClock, err: io.StringIO, **oauth2: object
):  # type: ignore[no-untyped-def]
    settings = make_settings(grant="device_code", **oauth2)
    sleeper = Sleeper(clock)
    session = await create_auth(settings, http, clock=clock, stderr=err, sleep=sleeper)
    return session, sleeper


async def test_device_login_shows_the_code_and_polls_slower_after_slow_down(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.device_script = ["authorization_pending", "slow_down", "authorization_pending"]
    err = io.StringIO()
    session, sleeper = await device_session(http, clock, err)
    await session.prefetch()
    assert (await http.post(RESOURCE, content=PING, auth=session.auth)).status_code == 200
    shown = err.getvalue()
    assert f"{ISSUER}/device" in shown
    assert "WDJB-MJHT" in shown
    assert f"{ISSUER}/device?user_code=WDJB-MJHT" in shown
    assert sleeper.waits == [5, 5, 10, 10]
    polls = [r for r in server.token_requests if r["grant_type"].endswith("device_code")]
    assert len(polls) == 4
    assert polls[0]["client_id"] == "test-client"


async def test_device_login_stores_the_refresh_token_for_the_next_start(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    from mcp_oauth2_proxy.auth.store import MemoryStore

    store = MemoryStore()
    settings = make_settings(grant="device_code")
    first = await create_auth(
        settings, http, clock=clock, stderr=io.StringIO(), sleep=Sleeper(clock), store=store
    )
    await first.prefetch()
    second = await create_auth(settings, http, clock=FakeClock(), stderr=io.StringIO(), store=store)
    await second.prefetch()
    assert server.token_requests[-1]["grant_type"] == "refresh_token"


@pytest.mark.parametrize(
    ("answer", "message"), [("access_denied", "denied"), ("expired_token", "expired")]
)
async def test_device_login_stops_on_denial_or_expiry(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock, answer: str, message: str
) -> None:
    server.device_script = ["authorization_pending", answer]
    session, _ = await device_session(http, clock, io.StringIO())
    with pytest.raises(AuthError, match=message) as caught:
        await session.prefetch()
    assert caught.value.error == answer


async def test_device_login_gives_up_when_the_code_lifetime_passes(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.device_script = ["authorization_pending"] * 500
    session, sleeper = await device_session(http, clock, io.StringIO())
    with pytest.raises(AuthError, match="expired"):
        await session.prefetch()
    assert sum(sleeper.waits) >= 600


async def test_device_endpoint_can_be_configured_when_not_advertised(
    server: FakeAuthServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    server.metadata_overrides = {"device_authorization_endpoint": None}
    session, _ = await device_session(http, clock, io.StringIO())
    with pytest.raises(AuthError, match="OAUTH2_DEVICE_AUTHORIZATION_URL"):
        await session.prefetch()
    configured, _ = await device_session(
        http, clock, io.StringIO(), deviceAuthorizationUrl=f"{ISSUER}/device_authorization"
    )
    await configured.prefetch()
