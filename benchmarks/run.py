"""One command for the whole suite: ``uv run python -m benchmarks [--quick]``.

For each response mode (JSON, SSE) and each bridge, a fresh upstream is started, the bridge is
measured, and the upstream is stopped; the direct baseline and every installed peer are measured in
the same run, so ratios compare figures taken on the same machine minutes apart. Echo latency and
pipelined throughput, the closest comparisons, are then measured again in reverse order of the
bridges and pooled (``Plan.session_passes``), so that a machine getting faster or slower during
the run does not favour whichever bridge came first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import direct, measure_stdio, report, wheel_index
from .bridges import (
    BENCH_DIR,
    REPO_ROOT,
    WHEELHOUSE,
    Candidate,
    peer_bridges,
    proxy_bridges,
)
from .figures import pass_orders, pool_passes
from .plan import FULL, QUICK, Plan
from .stdio_driver import Bridge, BridgeError

MODES = ("json", "sse")
ALL_NAMES = (
    "direct",
    "proxy",
    "proxy-script",
    "proxy-uvx",
    "proxy-uvx-dir",
    "mcp-remote",
    "mcp-remote-npx",
    "mcp-proxy",
)


@contextlib.asynccontextmanager
async def upstream(mode: str, token: str) -> AsyncIterator[str]:
    """An SDK upstream in its own process; yields its MCP URL, stops it on exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with tempfile.TemporaryFile() as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.upstream",
            f"--mode={mode}",
            f"--token={token}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=str(REPO_ROOT),
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line.startswith(b"READY "):
                stderr.seek(0)
                tail = stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"upstream did not start: {tail}")
            yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
        finally:
            await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()  # the upstream stops itself when its stdin closes
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


async def measure_bridge(bridge: Bridge, plan: Plan, url: str, token: str) -> dict[str, Any]:
    """Every figure a stdio bridge supports; a bridge that cannot initialize is skipped."""
    try:
        figures: dict[str, Any] = {"cold_start": await measure_stdio.cold_start(bridge, plan)}
    except BridgeError as exc:
        return {"status": "skipped", "reason": f"could not initialize: {exc}"}
    if bridge.launch_only:
        figures["idle_rss_mib"] = await measure_stdio.idle_rss(bridge, plan)
    else:
        figures.update(await measure_stdio.session_figures(bridge, plan))
        figures["blobs"] = await measure_stdio.blobs(bridge, plan, url, token)
    figures["argv"] = _redacted(bridge)
    if bridge.note:
        figures["note"] = bridge.note
    return {"status": "ok", **figures}


async def _measure_direct(url: str, token: str, plan: Plan) -> dict[str, Any]:
    """The direct baseline; if the SDK client fails, the run goes on without it and says why."""
    try:
        return {"status": "ok", **await direct.measure(url, token, plan)}
    except Exception as exc:  # noqa: BLE001 -- any failure of the baseline is reported, not raised
        return {"status": "skipped", "reason": f"the SDK client failed: {exc!r}"[:500]}


def _redacted(bridge: Bridge) -> list[str]:
    return [a.split("Bearer ")[0] + "Bearer ***" if "Bearer " in a else a for a in bridge.argv]


async def run_mode(
    mode: str,
    names: list[str],
    plan: Plan,
    *,
    token: str,
    source: Path,
    log: Any,
    uvx_setup: wheel_index.UvxSetup | str | None = None,
) -> dict[str, dict[str, Any]]:
    """All requested bridges for one response mode, each against a fresh upstream."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as config_dir:
        for name in names:
            log(f"[{mode}] {name} …")
            load_before = _loadavg()
            started = time.perf_counter()
            async with upstream(mode, token) as url:
                if name == "direct":
                    results[name] = await _measure_direct(url, token, plan)
                else:
                    results[name] = await _measure_named(
                        name,
                        url,
                        plan,
                        token=token,
                        config_dir=config_dir,
                        source=source,
                        uvx_setup=uvx_setup,
                    )
            # Another busy process on a 2-core machine skews every figure: keep the evidence.
            results[name]["loadavg"] = {"before": load_before, "after": _loadavg()}
            status = results[name]["status"]
            reason = results[name].get("reason", "")
            log(f"[{mode}] {name}: {status} {reason[:200]} ({time.perf_counter() - started:.1f} s)")
        for order in pass_orders(names, plan.session_passes)[1:]:
            for name in (n for n in order if _has_session_figures(results[n])):
                log(f"[{mode}] {name}: echo and pipelined again …")
                async with upstream(mode, token) as url:
                    await _measure_again(
                        name, results[name], url, plan, token=token, config_dir=config_dir
                    )
        for figures in results.values():
            _pool(figures)
    return results


def _has_session_figures(figures: dict[str, Any]) -> bool:
    return figures.get("status") == "ok" and all(
        key in figures and "error" not in figures[key] for key in ("echo", "pipelined")
    )


async def _measure_again(
    name: str, figures: dict[str, Any], url: str, plan: Plan, *, token: str, config_dir: str
) -> None:
    """One more echo and pipelined pass; a failure is recorded and the first pass kept."""
    try:
        if name == "direct":
            extra = await direct.session_pass(url, token, plan)
        else:
            bridge = _candidate(name, url, token=token, config_dir=config_dir).bridge
            assert bridge is not None  # it was measured in the first pass
            extra = await measure_stdio.session_pass(bridge, plan)
    except Exception as exc:  # noqa: BLE001 -- reported beside the figures, never ends the run
        figures.setdefault("later_pass_errors", []).append(repr(exc)[:300])
        return
    figures.setdefault("later_passes", []).append(extra)


def _pool(figures: dict[str, Any]) -> None:
    later = figures.pop("later_passes", [])
    if later:
        first = {"echo": figures["echo"], "pipelined": figures["pipelined"]}
        figures.update(pool_passes([first, *later]))


async def _measure_named(
    name: str,
    url: str,
    plan: Plan,
    *,
    token: str,
    config_dir: str,
    source: Path,
    uvx_setup: wheel_index.UvxSetup | str | None,
) -> dict[str, Any]:
    candidate = _candidate(
        name, url, token=token, config_dir=config_dir, source=source, uvx_setup=uvx_setup
    )
    if candidate.bridge is None:
        return {"status": "skipped", "reason": candidate.missing}
    return await measure_bridge(candidate.bridge, plan, url, token)


def _candidate(
    name: str,
    url: str,
    *,
    token: str,
    config_dir: str,
    source: Path = REPO_ROOT,
    uvx_setup: wheel_index.UvxSetup | str | None = None,
) -> Candidate:
    known = [*proxy_bridges(url, token, source, uvx_setup), *peer_bridges(url, token, config_dir)]
    return {c.name: c for c in known}[name]


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def _versions() -> dict[str, str | None]:
    def dist(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "mcp (SDK, upstream and direct)": dist("mcp"),
        "mcp-oauth2-proxy": dist("mcp-oauth2-proxy"),
        "node": _command_version(["node", "--version"]),
    }
    remote_pkg = BENCH_DIR / "peers" / "node_modules" / "mcp-remote" / "package.json"
    if remote_pkg.is_file():
        out["mcp-remote"] = json.loads(remote_pkg.read_text())["version"]
    proxy_py = BENCH_DIR / "peers" / "mcp-proxy-venv"
    if proxy_py.is_dir():
        out["mcp-proxy"] = _venv_dist(proxy_py, "mcp-proxy")
    return out


def _command_version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def _venv_dist(venv: Path, name: str) -> str | None:
    for site in venv.glob("lib/python*/site-packages"):
        for info in site.glob(f"{name.replace('-', '_')}-*.dist-info"):
            return info.name.removesuffix(".dist-info").split("-", 1)[1]
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="small counts, direct and proxy only (CI smoke run)"
    )
    p.add_argument(
        "--bridges",
        help=f"comma-separated subset of {','.join(ALL_NAMES)} (default: all; --quick: no peers)",
    )
    p.add_argument("--modes", default=",".join(MODES), help="json,sse (default both)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="directory for JSON")
    p.add_argument(
        "--proxy-source",
        type=Path,
        default=REPO_ROOT,
        help="project directory that the uvx variants install from (default: this checkout)",
    )
    return p.parse_args(argv)


def _names(args: argparse.Namespace) -> list[str]:
    if args.bridges:
        names = [n.strip() for n in args.bridges.split(",") if n.strip()]
        unknown = sorted(set(names) - set(ALL_NAMES))
        if unknown:
            raise SystemExit(f"unknown bridge(s): {', '.join(unknown)}")
        return names
    if args.quick:  # CI: no peers, no launcher variants (uvx needs a wheel build and wheelhouse)
        return ["direct", "proxy"]
    return list(ALL_NAMES)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole run; returns the JSON document."""
    plan = QUICK if args.quick else FULL
    token = secrets.token_hex(16)
    names = _names(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    doc: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "plan": asdict(plan),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": _versions(),
        "modes": {},
    }

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    source = args.proxy_source.resolve()
    with contextlib.ExitStack() as stack:
        uvx_setup = None
        if "proxy-uvx" in names:
            log("building the wheel and serving the loopback index for proxy-uvx …")
            uvx_setup = stack.enter_context(wheel_index.uvx_setup(source, WHEELHOUSE))
        for mode in modes:
            bridges = await run_mode(
                mode, names, plan, token=token, source=source, log=log, uvx_setup=uvx_setup
            )
            doc["modes"][mode] = {
                "bridges": bridges,
                "targets": report.check_targets(bridges, list(plan.blob_sizes)),
            }
    return doc


def render(doc: dict[str, Any]) -> str:
    """The printed report."""
    sizes = list(doc["plan"]["blob_sizes"])
    lines = [
        f"benchmark run {doc['started_at']} ({'quick' if doc['quick'] else 'full'}), "
        f"{doc['machine']['cpus']} CPUs, {doc['machine']['platform']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v),
        f"echo and pipelined: {doc['plan']['session_passes']} passes over the bridges, every"
        " other one in reverse order, pooled",
        "",
    ]
    for mode, data in doc["modes"].items():
        lines += report.render_mode(mode, data["bridges"], sizes)
        if any(c["passed"] is not None for c in data["targets"]):
            lines += report.render_targets(mode, data["targets"])
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the tables, write the JSON; exit 0 unless the harness itself failed."""
    args = parse_args(argv)
    doc = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = doc["started_at"].replace(":", "").replace("+0000", "Z")
    text = json.dumps(doc, indent=2)
    (args.out / f"bench-{stamp}{'-quick' if args.quick else ''}.json").write_text(text)
    (args.out / "latest.json").write_text(text)
    print(render(doc))
    print(f"\nJSON written to {args.out / 'latest.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
