import pytest

from mcp_oauth2_proxy.log import forget_secrets


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_secrets():
    yield
    forget_secrets()
