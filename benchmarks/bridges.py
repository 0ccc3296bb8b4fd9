"""The stdio bridges the suite knows, how each is launched, and whether it is installed here."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .stdio_driver import Bridge
from .wheel_index import UvxSetup

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
MCP_REMOTE_BIN = PEERS_DIR / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
MCP_PROXY_VENV = PEERS_DIR / "mcp-proxy-venv"
WHEELHOUSE = PEERS_DIR / "wheelhouse"  # the dependencies' wheels, for the loopback index

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


def proxy_bridges(
    url: str, token: str, source: Path = REPO_ROOT, uvx_setup: UvxSetup | str | None = None
) -> list[Candidate]:
    """Our proxy: ``python -m``, the console script, ``uvx`` from an index and ``--from`` a dir."""
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
    if uvx is None:
        missing = "uvx not on PATH"
    elif uvx_setup is None:
        missing = "no index was prepared for this run"
    else:
        missing = uvx_setup if isinstance(uvx_setup, str) else ""
    indexed = None
    if uvx is not None and isinstance(uvx_setup, UvxSetup):
        argv = [uvx, "--default-index", uvx_setup.index_url, "mcp-oauth2-proxy", *args]
        note = "uvx mcp-oauth2-proxy, warm cache, loopback index with PyPI's cache headers"
        indexed = Bridge("proxy-uvx", argv, {**env, **uvx_setup.env}, launch_only=True, note=note)
    out.append(Candidate("proxy-uvx", indexed, missing))
    # --from a directory through whatever registry this machine is configured with: uv
    # re-resolves the directory's dependencies at every launch, and a registry that sends no
    # Cache-Control makes it revalidate each of them (shown for comparison, not a target).
    from_dir = None
    if uvx is not None:
        argv = [uvx, "--from", str(source), "mcp-oauth2-proxy", *args]
        note = "uvx --from the checkout, warm cache, this machine's registry"
        from_dir = Bridge("proxy-uvx-dir", argv, env, launch_only=True, note=note)
    out.append(Candidate("proxy-uvx-dir", from_dir, "" if uvx else "uvx not on PATH"))
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
