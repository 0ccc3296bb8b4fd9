from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import structlog

from mcp_oauth2_proxy.log import configure_logging, forget_secrets
from tests.support.auth_helpers import FakeClock, FollowingBrowser
from tests.support.oauth_server import FakeAuthServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def server() -> FakeAuthServer:
    return FakeAuthServer()


@pytest.fixture
async def http(server: FakeAuthServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app())) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def browser(http: httpx.AsyncClient) -> FollowingBrowser:
    return FollowingBrowser(http)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    yield stream
    structlog.reset_defaults()
