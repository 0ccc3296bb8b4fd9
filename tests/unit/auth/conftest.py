from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from mcp_oauth2_proxy.log import configure_logging, forget_secrets


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    yield stream
    structlog.reset_defaults()
    forget_secrets()
