"""The stdio bridges the suite knows, how each is launched, and whether it is installed here."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .stdio_driver import Bridge

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
MCP_REMOTE_BIN = PEERS_DIR / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
MCP_PROXY_VENV = PEERS_DIR / "mcp-proxy-venv"

PROXY = "proxy"


@dataclass(frozen=True)
class Candidate:
    """A bridge, or the reason it cannot be measured in this run."""

    name: str
    bridge: Bridge | None
    missing: str = ""


def _script(directory: Path, name: str) -> Path:
    if os.name == "nt":
        return directory / "Scripts" / f"{name}.exe"
    return directory / "bin" / name


def proxy_bridges(url: str, token: str, source: Path = REPO_ROOT) -> list[Candidate]:
    """Our proxy: ``python -m``, the installed console script, ``uvx --from`` (online, offline)."""
    args = [url, "--grant", "none", "--header", f"Authorization: Bearer {token}"]
    env = {"LOG_LEVEL": "warn"}
    out = [Candidate(PROXY, Bridge(PROXY, [sys.executable, "-m", "mcp_oauth2_proxy", *args], env))]
    script = shutil.which("mcp-oauth2-proxy", path=str(Path(sys.executable).parent))
    out.append(
        Candidate(
            "proxy-script",
            Bridge("proxy-script", [script, *args], env, launch_only=True) if script else None,
            "" if script else "console script mcp-oauth2-proxy not found beside sys.executable",
        )
    )
    uvx = shutil.which("uvx")
    # Online, uvx re-resolves a --from directory's dependencies and revalidates their index pages
    # at every launch; --offline shows what the launcher costs without those round trips.
    for name, flags, note in (
        ("proxy-uvx", [], "uvx --from the repo, warm cache"),
        ("proxy-uvx-offline", ["--offline"], "uvx --offline --from the repo, warm cache"),
    ):
        argv = [uvx, *flags, "--from", str(source), "mcp-oauth2-proxy", *args] if uvx else []
        bridge = Bridge(name, argv, env, launch_only=True, note=note) if uvx else None
        out.append(Candidate(name, bridge, "" if uvx else "uvx not on PATH"))
    return out


def peer_bridges(url: str, token: str, config_dir: str) -> list[Candidate]:
    """mcp-remote (node bin and npx) and mcp-proxy, when setup_peers.sh installed them."""
    header = f"Authorization: Bearer {token}"
    node = shutil.which("node")
    npx = shutil.which("npx")
    # mcp-remote keeps state under a config dir; a private one keeps runs independent.
    remote_env = {"MCP_REMOTE_CONFIG_DIR": config_dir, "npm_config_update_notifier": "false"}
    have_remote = MCP_REMOTE_BIN.is_file() and node is not None
    missing_remote = "" if have_remote else "not installed (run benchmarks/setup_peers.sh)"
    out = [
        Candidate(
            "mcp-remote",
            Bridge(
                "mcp-remote",
                [node or "node", str(MCP_REMOTE_BIN), url, "--header", header],
                remote_env,
            )
            if have_remote
            else None,
            missing_remote,
        ),
        Candidate(
            "mcp-remote-npx",
            Bridge(
                "mcp-remote-npx",
                [npx or "npx", "--offline", "mcp-remote", url, "--header", header],
                remote_env,
                cwd=str(PEERS_DIR),
                launch_only=True,
                note="npx from the local install",
            )
            if have_remote and npx
            else None,
            missing_remote or ("" if npx else "npx not on PATH"),
        ),
    ]
    proxy_script = _script(MCP_PROXY_VENV, "mcp-proxy")
    have_proxy = proxy_script.is_file()
    out.append(
        Candidate(
            "mcp-proxy",
            Bridge(
                "mcp-proxy",
                [
                    str(proxy_script),
                    "--transport",
                    "streamablehttp",
                    "--headers",
                    "Authorization",
                    f"Bearer {token}",
                    url,
                ],
            )
            if have_proxy
            else None,
            "" if have_proxy else "not installed (run benchmarks/setup_peers.sh)",
        )
    )
    return out
