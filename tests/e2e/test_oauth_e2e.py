"""The real CLI reaches an OAuth-protected SDK server with every way of getting a token."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

pytestmark = pytest.mark.anyio
HERE = Path(__file__).parent
BROWSER = HERE.parent / "support" / "headless_browser.py"
PUBLIC = "desktop-app"
SERVICE, SERVICE_SECRET = "svc", "svc-secret-value"
REDIRECT = "http://127.0.0.1:9/callback"


@dataclass
class ProtectedUpstream:
    mcp_url: str
    issuer: str
    proc: subprocess.Popen[str]


@pytest.fixture(scope="module")
def protected() -> Iterator[ProtectedUpstream]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [
            sys.executable,
            str(HERE / "sdk_server.py"),
            "--json",
            "--oauth",
            "--client",
            PUBLIC,
            "--client",
            f"{SERVICE}:{SERVICE_SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    mcp_url = proc.stdout.readline().split()[1]
    issuer = proc.stdout.readline().split()[1]
    yield ProtectedUpstream(mcp_url, issuer, proc)
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


@asynccontextmanager
async def session_through_proxy(
    url: str, env: dict[str, str], errlog_path: Path
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_oauth2_proxy", url],
        env={**os.environ, "LOG_LEVEL": "info", "LOG_FORMAT": "json", **env},
    )
    with errlog_path.open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def echo_through_proxy(url: str, env: dict[str, str], errlog: Path) -> str:
    async with session_through_proxy(url, env, errlog) as session:
        result = await session.call_tool("echo", {"text": "through OAuth"})
        return result.content[0].text  # type: ignore[union-attr]


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "OAUTH2_TOKEN_CACHE_DIR": str(tmp_path / "cache"),
        "OAUTH2_TOKEN_STORE": "file",
        "OAUTH2_CALLBACK_PORT": "0",
        "BROWSER": f"{sys.executable} {BROWSER}",
        "BROWSER_LOG": str(tmp_path / "browser.log"),
    }


def browser_visits(tmp_path: Path) -> int:
    log = tmp_path / "browser.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def authorize_by_hand(upstream: ProtectedUpstream) -> tuple[str, str]:
    """Run the front channel ourselves: return a fresh code and its PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    with httpx.Client(trust_env=False) as http:
        meta = http.get(f"{upstream.issuer}/.well-known/oauth-authorization-server").json()
        answer = http.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": PUBLIC,
                "redirect_uri": REDIRECT,
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
                "state": "s1",
                "resource": upstream.mcp_url,
                "scope": "mcp offline_access",
            },
        )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return code, verifier


async def test_interactive_login_then_a_second_start_needs_no_browser(
    protected: ProtectedUpstream, tmp_path: Path
) -> None:
    env = base_env(tmp_path) | {"OAUTH2_CLIENT_ID": PUBLIC}
    errlog = tmp_path / "stderr.log"
    assert await echo_through_proxy(protected.mcp_url, env, errlog) == "through OAuth"
    assert browser_visits(tmp_path) == 1
    assert list((tmp_path / "cache").glob("*.tok")), "the refresh token was stored"

    second = env | {"BROWSER_REFUSE": "1"}
    assert await echo_through_proxy(protected.mcp_url, second, errlog) == "through OAuth"
    assert browser_visits(tmp_path) == 1, "the stored refresh token replaced the browser"


async def test_a_pre_supplied_code_skips_the_browser(
    protected: ProtectedUpstream, tmp_path: Path
) -> None:
    code, verifier = authorize_by_hand(protected)
    env = base_env(tmp_path) | {
        "OAUTH2_CLIENT_ID": PUBLIC,
        "OAUTH2_AUTHORIZATION_CODE": code,
        "OAUTH2_CODE_VERIFIER": verifier,
        "OAUTH2_REDIRECT_URI": REDIRECT,
        "OAUTH2_INTERACTIVE": "false",
    }
    errlog = tmp_path / "stderr.log"
    assert await echo_through_proxy(protected.mcp_url, env, errlog) == "through OAuth"
    assert browser_visits(tmp_path) == 0
    assert code not in errlog.read_text()


async def test_a_pre_supplied_refresh_token_skips_the_browser(
    protected: ProtectedUpstream, tmp_path: Path
) -> None:
    code, verifier = authorize_by_hand(protected)
    async with httpx.AsyncClient(trust_env=False) as http:
        meta = (await http.get(f"{protected.issuer}/.well-known/oauth-authorization-server")).json()
        answer = await http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": REDIRECT,
                "client_id": PUBLIC,
                "resource": protected.mcp_url,
            },
        )
    refresh = answer.json()["refresh_token"]
    env = base_env(tmp_path) | {
        "OAUTH2_CLIENT_ID": PUBLIC,
        "OAUTH2_REFRESH_TOKEN": refresh,
        "OAUTH2_INTERACTIVE": "false",
    }
    errlog = tmp_path / "stderr.log"
    assert await echo_through_proxy(protected.mcp_url, env, errlog) == "through OAuth"
    assert browser_visits(tmp_path) == 0
    assert refresh not in errlog.read_text()


async def test_client_credentials_reach_the_server_without_any_user(
    protected: ProtectedUpstream, tmp_path: Path
) -> None:
    env = base_env(tmp_path) | {
        "OAUTH2_GRANT": "client_credentials",
        "OAUTH2_CLIENT_ID": SERVICE,
        "OAUTH2_CLIENT_SECRET": SERVICE_SECRET,
    }
    errlog = tmp_path / "stderr.log"
    assert await echo_through_proxy(protected.mcp_url, env, errlog) == "through OAuth"
    assert browser_visits(tmp_path) == 0
    assert SERVICE_SECRET not in errlog.read_text()


def test_without_any_way_to_log_in_the_proxy_exits_with_code_3(
    protected: ProtectedUpstream, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **base_env(tmp_path),
        "OAUTH2_CLIENT_ID": PUBLIC,
        "OAUTH2_INTERACTIVE": "false",
    }
    with subprocess.Popen(  # noqa: S603 - the program under test
        [sys.executable, "-m", "mcp_oauth2_proxy", protected.mcp_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        proc.wait(timeout=60)  # stdin stays open: the proxy has to end by itself
        out, err = proc.communicate()
    assert proc.returncode == 3, err
    assert out == b""
    last = err.splitlines()[-1].decode()
    assert last.startswith("mcp-oauth2-proxy: error:"), last
    assert "log in" in last
