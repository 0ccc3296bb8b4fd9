"""The device authorization grant (RFC 8628) at oidc-provider, completed in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from .browser import Visit
from .conftest import Peers, whoami
from .peers import PUBLIC_CLIENT

pytestmark = pytest.mark.anyio
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = re.compile(r"\b[BCDFGHJKLMNPQRSTVWXZ]{4}-?[BCDFGHJKLMNPQRSTVWXZ]{4}\b")


async def device_prompt(log: Path, issuer: str) -> tuple[str, str | None]:
    """Wait for the verification URI (complete when offered) and user code on stderr."""
    pattern = re.compile(re.escape(issuer) + r"/device\S*")
    with anyio.move_on_after(30):
        while True:
            text = await anyio.Path(log).read_text() if await anyio.Path(log).exists() else ""
            urls = pattern.findall(text)
            code = USER_CODE.search(text)
            if urls and code:
                complete = [u for u in urls if "user_code=" in u]
                return (complete or urls)[0], code.group()
            await anyio.sleep(0.1)  # polling the proxy's stderr, written by another process
    raise AssertionError(f"no verification URI and user code on the proxy's stderr:\n{text}")


async def test_a_device_code_login_is_finished_in_the_browser_of_another_device(
    peers: Peers,
) -> None:
    env = peers.proxy_env(OAUTH2_GRANT="device_code", OAUTH2_CLIENT_ID=PUBLIC_CLIENT)
    visits: list[Visit] = []

    async def user_on_a_phone() -> None:
        url, code = await device_prompt(peers.proxy_log, peers.provider.issuer)
        visits.append(await peers.user.complete(url, user_code=code))

    with anyio.fail_after(90):
        async with (
            peers.relay(browser=False) as relay,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(user_on_a_phone)
            async with peers.session(env, relay) as session:
                tools = await session.list_tools()
                who = await whoami(session)
    assert "echo" in {t.name for t in tools.tools}
    assert who == f"ada via {PUBLIC_CLIENT} for {peers.upstream.url}"
    [visit] = visits
    assert visit.pages[-2:] == ["login", "consent"]
    assert "Sign-in Success" in visit.final_text
    assert len(peers.provider.grants(DEVICE_CODE)) == 1
