"""The third-party peers as subprocesses on 127.0.0.1: oidc-provider and the SDK upstream.

Both stop by themselves when their stdin closes, so a killed test run leaves
nothing behind; :meth:`stop` closes stdin and waits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

E2E = Path(__file__).resolve().parents[1]
NODE_DIR = E2E / "node"
NODE = NODE_DIR / "node_modules" / "node" / "bin" / "node"
INSPECTOR = (
    NODE_DIR / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher"
)
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
PUBLIC_CLIENT = "e2e-desktop"
SERVICE_CLIENT, SERVICE_SECRET = "e2e-service", "e2e-service-secret-0123456789abcdef"
NPM_HINT = "install the pinned peers first: npm ci --prefix tests/e2e/node"


def require_node() -> Path:
    """Return the pinned Node.js, or fail the test saying how to install the peers."""
    missing = [
        p for p in (NODE, NODE_DIR / "node_modules" / "oidc-provider", INSPECTOR) if not p.exists()
    ]
    if missing:
        pytest.fail(f"missing {missing[0]}: {NPM_HINT}", pytrace=False)
    return NODE


def require_chromium() -> Path:
    """Return Debian's Chromium, or fail the test saying how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get update && apt-get install -y chromium "
            "(or point E2E_CHROMIUM at a Chromium binary)",
            pytrace=False,
        )
    return CHROMIUM


def _read_announcement(proc: subprocess.Popen[str], key: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(f"{key} "):
        proc.kill()
        proc.wait()
        pytest.fail(f"{proc.args!r} did not start (said {line!r})", pytrace=False)
    return line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class OidcProvider:
    """A running oidc-provider and its test-only window onto what happened inside."""

    issuer: str
    proc: subprocess.Popen[str] = field(repr=False)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return what the provider recorded, optionally only events called ``name``."""
        found: list[dict[str, Any]] = self._admin("GET", "/_test/events")
        return [e for e in found if name is None or e["event"] == name]

    def grants(self, grant_type: str) -> list[dict[str, Any]]:
        """Return the successful token requests of ``grant_type``."""
        return [e for e in self.events("grant.success") if e["grant_type"] == grant_type]

    def refresh_tokens(self, state: str | None = None) -> list[dict[str, Any]]:
        """Return the refresh tokens the provider issued, optionally in one ``state``."""
        found: list[dict[str, Any]] = self._admin("GET", "/_test/refresh-tokens")
        return [t for t in found if state is None or t["state"] == state]

    def revoke_refresh_tokens(self) -> int:
        """Destroy every live refresh token, as an administrator would; return how many."""
        return int(self._admin("POST", "/_test/revoke-refresh-tokens")["revoked"])

    def _admin(self, method: str, path: str) -> Any:
        with httpx.Client(trust_env=False, timeout=10) as http:
            answer = http.request(method, f"{self.issuer}{path}")
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        """Close stdin (the provider exits) and wait."""
        _stop(self.proc)


def start_provider(
    log: Path, *, access_token_ttl: int = 600, strict_offline_access: bool = False
) -> OidcProvider:
    """Start oidc-provider on a free loopback port; its stderr goes to ``log``.

    ``strict_offline_access`` keeps oidc-provider's default refresh-token policy:
    only for ``offline_access``, which it honours only with ``prompt=consent``.
    """
    node = require_node()
    strict = ["--strict-offline-access"] if strict_offline_access else []
    with log.open("ab") as errors:
        proc = subprocess.Popen(  # noqa: S603 - the pinned Node.js and our own script
            [
                str(node),
                str(NODE_DIR / "provider.mjs"),
                "--access-token-ttl",
                str(access_token_ttl),
                *strict,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=NODE_DIR,
        )
    return OidcProvider(_read_announcement(proc, "ISSUER"), proc)


@dataclass
class JwtUpstream:
    """The official MCP SDK server behind a gate that accepts the provider's JWTs."""

    url: str
    proc: subprocess.Popen[str] = field(repr=False)

    def stop(self) -> None:
        """Close stdin (the server shuts down) and wait."""
        _stop(self.proc)


def start_upstream(issuer: str, log: Path) -> JwtUpstream:
    """Start the SDK server (JSON responses) trusting ``issuer``; its stderr goes to ``log``."""
    with log.open("ab") as errors:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(E2E / "sdk_server.py"), "--jwt-issuer", issuer],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    return JwtUpstream(_read_announcement(proc, "MCP"), proc)


def inspector_cli(proxy_argv: list[str], proxy_env: dict[str, str], *method: str) -> list[str]:
    """The official MCP Inspector's CLI mode launching the proxy over stdio with ``method``."""
    node = require_node()
    argv = [str(node), str(INSPECTOR / "build" / "index.js"), "--cli", *proxy_argv]
    for key, value in proxy_env.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, "--method", *method]
