"""The login, logout and status commands, against the in-process test server."""

from __future__ import annotations

import argparse
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from mcp_oauth2_proxy.auth.store import FileStore, MemoryStore, TokenStore
from mcp_oauth2_proxy.cli import main
from mcp_oauth2_proxy.commands import CommandContext, load
from mcp_oauth2_proxy.config import Settings
from tests.support.auth_helpers import FollowingBrowser, make_settings
from tests.support.oauth_server import FakeAuthServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # main() configures logging onto a stream pytest closes


class Terminal:
    """The user at a headless terminal: opens the printed URL elsewhere, pastes the redirect."""

    def __init__(self, as_client: httpx.AsyncClient, err: io.StringIO) -> None:
        self.as_client = as_client
        self.err = err

    async def __call__(self) -> str:
        url = re.search(r"https://auth\.test/authorize\S+", self.err.getvalue())
        assert url is not None
        answer = await self.as_client.get(url.group(0))
        return answer.headers["location"] + "\n"


def context(http: httpx.AsyncClient, store: TokenStore, **kwargs: object) -> CommandContext:
    return CommandContext(
        stdout=io.StringIO(), stderr=io.StringIO(), http=http, store=store, **kwargs
    )  # type: ignore[arg-type]


async def run(name: str, settings: Settings, cx: CommandContext, **args: object) -> int:
    return await load(name).run(settings, argparse.Namespace(**args), cx)


def out(cx: CommandContext) -> str:
    assert isinstance(cx.stdout, io.StringIO)
    return cx.stdout.getvalue()


async def test_login_no_browser_accepts_the_pasted_redirect_url(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    store = MemoryStore()
    err = io.StringIO()
    cx = CommandContext(stdout=io.StringIO(), stderr=err, http=http, store=store)
    cx.read_line = Terminal(http, err)
    settings = make_settings(clientId=None, openBrowser=False, callbackPort=53682)
    assert await run("login", settings, cx) == 0
    assert "Logged in to https://auth.test" in out(cx)
    assert server.registrations[0]["redirect_uris"] == ["http://127.0.0.1:53682/callback"]
    exchange = server.token_requests[0]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["redirect_uri"] == "http://127.0.0.1:53682/callback"
    assert any(e.get("refresh_token") for e in store.entries.values())


async def test_status_reports_a_usable_login_without_any_secret(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.client_secret = "client-s3cret"
    store = FileStore(tmp_path)
    settings = make_settings(
        clientSecret="client-s3cret", tokenStore="file", tokenCacheDir=str(tmp_path)
    )
    login = context(http, store, opener=FollowingBrowser(http))
    assert await run("login", settings, login) == 0
    await login.opener.settle()  # type: ignore[union-attr]
    status = context(http, store)
    assert await run("status", settings, status, json=True) == 0
    report = json.loads(out(status))
    assert report["token"]["usable"] is True
    assert report["token"]["expires_at"].endswith("Z")
    assert report["client"] == {
        "client_id": "test-client",
        "source": "configured",
        "auth_method": "client_secret_basic",
    }
    assert report["authorization_server"]["issuer"] == "https://auth.test"
    assert report["stored_login"]["present"] is True
    assert report["configured"]["oauth2.clientSecret"] == "(set)"
    secrets = [
        *server.refresh_tokens,
        *server.access_tokens,
        *server.spent_refresh_tokens,
        "client-s3cret",
    ]
    text_status = context(http, store)
    await run("status", settings, text_status, json=False)
    for shown in (out(status), out(text_status)):
        assert not any(secret in shown for secret in secrets)


async def test_status_exits_non_zero_without_a_usable_token(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    cx = context(http, MemoryStore())
    assert await run("status", make_settings(), cx, json=True) == 1
    report = json.loads(out(cx))
    assert report["token"]["usable"] is False
    assert "log in" in report["token"]["reason"]


async def test_status_never_registers_a_client(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    cx = context(http, MemoryStore())
    assert await run("status", make_settings(clientId=None), cx, json=False) == 1
    assert server.registrations == []
    assert "mcp-oauth2-proxy login" in out(cx)


async def test_logout_revokes_and_forgets_the_login_and_the_registration(
    server: FakeAuthServer, http: httpx.AsyncClient
) -> None:
    store = MemoryStore()
    settings = make_settings(clientId=None)
    login = context(http, store, opener=FollowingBrowser(http))
    await run("login", settings, login)
    await login.opener.settle()  # type: ignore[union-attr]
    [refresh_token] = [e["refresh_token"] for e in store.entries.values() if "refresh_token" in e]
    cx = context(http, store)
    assert await run("logout", settings, cx, all_identities=False) == 0
    assert server.revoked == [refresh_token]
    assert store.entries == {}
    assert "Revoked" in out(cx)
    after = context(http, store)
    assert await run("status", settings, after, json=True) == 1


async def test_logout_all_forgets_every_stored_identity(
    server: FakeAuthServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = FileStore(tmp_path)
    for resource in ("https://mcp.test/mcp", "https://mcp.test/"):
        cx = context(http, store, opener=FollowingBrowser(http))
        await run("login", make_settings(resource=resource), cx)
        await cx.opener.settle()  # type: ignore[union-attr]
    assert len(list(tmp_path.glob("*.tok"))) == 2  # noqa: ASYNC240 - a tiny test directory
    cx = context(http, store)
    assert await run("logout", make_settings(), cx, all_identities=True) == 0
    assert list(tmp_path.glob("*.tok")) == []  # noqa: ASYNC240 - a tiny test directory
    assert len(server.revoked) == 1  # this configuration's; the other is only forgotten


def test_logout_all_needs_no_upstream_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UPSTREAM_URL", raising=False)
    monkeypatch.delenv("MCP_PROXY_CONFIG", raising=False)
    monkeypatch.setenv("OAUTH2_TOKEN_CACHE_DIR", str(tmp_path))
    (tmp_path / "0123.tok").write_bytes(b"MOP1 opaque")
    assert main(["logout", "--all", "--token-store", "file"]) == 0
    assert "Forgot 1 stored entry" in capsys.readouterr().out
    assert not (tmp_path / "0123.tok").exists()


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for name in ("login", "logout", "status"):
        assert re.search(rf"^\s+{name}\s", shown, re.MULTILINE)


def test_a_command_accepts_the_setting_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    shown = capsys.readouterr().out
    assert "--json" in shown
    assert "--client-id" in shown
