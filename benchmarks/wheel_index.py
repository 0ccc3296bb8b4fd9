"""A package index on 127.0.0.1 that answers like PyPI, for the ``uvx mcp-oauth2-proxy`` launch.

From a warm cache, uvx sends no request at all while the index pages it cached are fresh, and
PyPI marks its simple pages fresh for ten minutes (``Cache-Control: max-age=600, public``). A
registry mirror that sends no ``Cache-Control`` makes uvx revalidate every package of the
resolution at every launch instead (about 35 requests here). So that the launch figure is the one
a user of PyPI gets, the run serves the project's wheel, built from the checkout, and its
dependencies' wheels (downloaded once by ``setup_peers.sh``) with PyPI's caching headers, and uvx
installs from there into a private cache and tool directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PAGE_CACHE_CONTROL = "max-age=600, public"  # what PyPI sends with /simple/<name>/
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"  # and with its files


@dataclass(frozen=True)
class UvxSetup:
    """Where uvx finds the index, and the environment that keeps its cache private to the run."""

    index_url: str
    env: dict[str, str]


def normalize(name: str) -> str:
    """PEP 503 project name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def simple_page(wheels: list[Path]) -> bytes:
    """A PEP 503 project page linking each wheel with its sha256."""
    links = "".join(
        f'<a href="/files/{html.escape(w.name)}#sha256={_sha256(w)}">{html.escape(w.name)}</a>\n'
        for w in sorted(wheels)
    )
    return f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n".encode()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    projects: dict[str, list[Path]]
    files: dict[str, Path]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib name
        pass  # the benchmark's stderr is for progress lines

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/simple/"):
            wheels = self.projects.get(normalize(path.removeprefix("/simple/").strip("/")))
            if wheels is None:
                self.send_error(404)
                return
            content = simple_page(wheels)
            etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", "text/html", PAGE_CACHE_CONTROL, etag, body=False)
            else:
                self._send(200, content, "text/html", PAGE_CACHE_CONTROL, etag, body=body)
            return
        wheel = self.files.get(path.removeprefix("/files/")) if path.startswith("/files/") else None
        if wheel is None:
            self.send_error(404)
            return
        data = wheel.read_bytes()
        self._send(200, data, "application/octet-stream", FILE_CACHE_CONTROL, None, body=body)

    def _send(
        self, status: int, data: bytes, kind: str, cache: str, etag: str | None, *, body: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", cache)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


@contextlib.contextmanager
def serve(wheels: list[Path]) -> Iterator[str]:
    """Serve ``wheels`` as a simple index on 127.0.0.1 (ephemeral port); yields its URL."""
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        projects.setdefault(normalize(wheel.name.split("-", 1)[0]), []).append(wheel)
    handler = type(
        "Handler", (_Handler,), {"projects": projects, "files": {w.name: w for w in wheels}}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="wheel-index", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def build_wheel(source: Path, out_dir: Path) -> Path:
    """Build the project's wheel from ``source`` with ``uv build``; raise RuntimeError if not."""
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv not on PATH")
    done = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out_dir), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    built = sorted(out_dir.glob("mcp_oauth2_proxy-*.whl"))
    if done.returncode != 0 or not built:
        raise RuntimeError(f"uv build failed: {done.stderr.strip()[-300:]}")
    return built[-1]


@contextlib.contextmanager
def uvx_setup(source: Path, dependency_wheels: Path) -> Iterator[UvxSetup | str]:
    """The index and a private uv cache for the run, or the reason they cannot be had."""
    deps = sorted(dependency_wheels.glob("*.whl"))
    if not deps:
        yield f"no dependency wheels in {dependency_wheels.name}/ (run benchmarks/setup_peers.sh)"
        return
    with tempfile.TemporaryDirectory(prefix="bench-uvx-") as tmp:
        try:
            wheel = build_wheel(source, Path(tmp) / "dist")
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            yield f"could not build the wheel: {exc}"
            return
        with serve(
            [wheel, *(d for d in deps if not d.name.startswith("mcp_oauth2_proxy-"))]
        ) as url:
            env = {
                "UV_CACHE_DIR": str(Path(tmp) / "cache"),
                "UV_TOOL_DIR": str(Path(tmp) / "tools"),  # no installed tool may answer instead
                "UV_NO_CONFIG": "1",
                "UV_PYTHON_DOWNLOADS": "never",
            }
            yield UvxSetup(url, env)
