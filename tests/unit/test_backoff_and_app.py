from __future__ import annotations

import ast
import ssl
from pathlib import Path

import httpx
import pytest

from mcp_oauth2_proxy import app
from mcp_oauth2_proxy.config import Settings
from mcp_oauth2_proxy.transport.backoff import Backoff

pytestmark = pytest.mark.anyio
SRC = Path(app.__file__).parent


def test_backoff_doubles_from_half_a_second_to_thirty_and_resets() -> None:
    backoff = Backoff(random=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def _settings(**oauth2: str) -> Settings:
    return Settings.model_validate(
        {"upstream": {"url": "https://mcp.example.com/mcp"}, "oauth2": oauth2}
    )


async def test_grant_none_needs_no_auth_and_oauth_grants_get_a_bearer_auth() -> None:
    async with app.build_client(_settings(grant="none")) as client:
        assert await app.build_auth(_settings(grant="none"), client) is None
        session = await app.build_auth(
            _settings(grant="client_credentials", clientId="svc", tokenStore="memory"), client
        )
        assert session is not None
        assert isinstance(session.auth, httpx.Auth)
        await session.aclose()


async def test_the_http_client_uses_env_proxies_no_redirects_and_no_pool_timeout() -> None:
    async with app.build_client(_settings(grant="none")) as client:
        assert client.trust_env
        assert not client.follow_redirects
        assert client.timeout.pool is None
        assert client.timeout.read == 300


def test_the_ssl_context_verifies_certificates() -> None:
    ctx = app.build_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname


def test_the_bridge_and_transport_never_import_the_auth_package() -> None:
    for path in [SRC / "bridge.py", SRC / "stdio.py", *sorted((SRC / "transport").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ] + [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        assert not any("auth" in module.split(".") for module in modules), path
