from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mcp_oauth2_proxy.server import DemoServers, FakeClock, build_demo_servers

from .flows import ISSUER, MCP_URL


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo(clock: FakeClock) -> DemoServers:
    return build_demo_servers(issuer=ISSUER, mcp_url=MCP_URL, clock=clock)


@pytest.fixture
async def auth(demo: DemoServers) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


@pytest.fixture
async def mcp(demo: DemoServers) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=demo.mcp_app)
    async with httpx.AsyncClient(transport=transport, base_url=MCP_URL.rsplit("/", 1)[0]) as client:
        yield client
