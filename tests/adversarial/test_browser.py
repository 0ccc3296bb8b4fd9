"""The browser opener: hostile login URLs never reach a shell or a non-web handler."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.auth import browser as browser_module
from mcp_oauth2_proxy.auth.browser import SystemBrowser, is_openable, show_login_url
from mcp_oauth2_proxy.auth.callback import CallbackConfig, CallbackServer

HOSTILE_SCHEMES = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "file:///etc/passwd",
    "data:text/html,<script>alert(1)</script>",
    "vscode://file/etc/passwd",
    "ms-settings:",
    "smb://attacker.test/share",
    "-https://auth.test/",
    "--help",
    " https://auth.test/",
    "https://auth.test/\x00",
    "https://auth.test/\r\nX: y",
    "https:auth.test",
    "",
]

SHELL_METACHARACTERS = (
    "https://auth.test/authorize?a=$(touch%20pwned)&b=`id`&c=x;rm&d=x|cat&e=%PATH%&f=%VAR%"
    "&g='q'&h=\"q\"&i=\\&j=>out&k=<in&l=!1&m=*&n=~root&o=#frag"
)
USERINFO = "https://user:p%40ss@auth.test:8443/authorize?state=x"


class Spawned:
    """Records argv and keeps the real detached process so the test can wait for it."""

    def __init__(self) -> None:
        self.argv: list[list[str]] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def __call__(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self.argv.append(argv)
        proc = browser_module._spawn_detached(argv)
        self.procs.append(proc)
        return proc


@pytest.mark.parametrize("url", HOSTILE_SCHEMES)
def test_non_web_urls_are_never_launched(url: str) -> None:
    spawned = Spawned()
    opener = SystemBrowser(
        env={"BROWSER": "true", "DISPLAY": ":0"}, platform="linux", spawn=spawned
    )
    assert not is_openable(url)
    assert not opener.open(url)
    assert spawned.argv == []


@pytest.mark.parametrize("url", [SHELL_METACHARACTERS, USERINFO])
@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_shell_metacharacters_and_userinfo_reach_the_browser_as_one_exact_argument(
    url: str, platform: str, tmp_path: Path
) -> None:
    record = tmp_path / "argv.json"
    script = tmp_path / "browser.py"
    script.write_text(
        f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    spawned = Spawned()
    browser = f"{sys.executable} {script}"
    opener = SystemBrowser(env={"BROWSER": browser}, platform=platform, spawn=spawned)
    assert opener.open(url)
    assert spawned.procs[0].wait(timeout=30) == 0
    assert json.loads(record.read_text()) == [url]
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_a_browser_that_prints_and_reads_stdin_cannot_touch_our_stdio(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "noisy.py"
    script.write_text(
        "import sys, os\n"
        'print(\'{"jsonrpc":"2.0","id":1,"result":"forged"}\', flush=True)\n'
        "sys.stderr.write('browser noise\\n'); sys.stderr.flush()\n"
        "data = sys.stdin.read()\n"
        "os.write(1, b'read %d bytes' % len(data))\n"
    )
    spawned = Spawned()
    opener = SystemBrowser(env={"BROWSER": f"{sys.executable} {script}"}, spawn=spawned)
    assert opener.open("https://auth.test/authorize")
    assert spawned.procs[0].wait(timeout=30) == 0
    out, err = capfd.readouterr()
    assert out == ""
    assert "browser noise" not in err


def test_the_browser_runs_in_its_own_session_so_our_signals_do_not_reach_it(
    tmp_path: Path,
) -> None:
    record = tmp_path / "sid"
    script = tmp_path / "sid.py"
    script.write_text(f"import os\nopen({str(record)!r}, 'w').write(str(os.getsid(0)))\n")
    spawned = Spawned()
    opener = SystemBrowser(env={"BROWSER": f"{sys.executable} {script}"}, spawn=spawned)
    assert opener.open("https://auth.test/")
    assert spawned.procs[0].wait(timeout=30) == 0
    import os

    assert int(record.read_text()) != os.getsid(0)


def test_a_missing_browser_program_means_printed_url_only() -> None:
    opener = SystemBrowser(env={"BROWSER": "/nonexistent/browser"}, platform="linux")
    stderr = io.StringIO()
    assert not show_login_url(opener, stderr, "https://auth.test/authorize?x=1")
    text = stderr.getvalue()
    assert "https://auth.test/authorize?x=1" in text
    assert "open the URL above yourself" in text


@pytest.mark.anyio
async def test_without_a_browser_the_login_keeps_waiting_for_the_callback() -> None:
    stderr = io.StringIO()
    codes: list[str] = []
    async with CallbackServer(CallbackConfig(port=0, timeout_seconds=30), state="st") as server:
        assert not show_login_url(
            SystemBrowser(env={}, platform="linux"), stderr, "https://a.test/"
        )

        async def wait() -> None:
            codes.append(await server.wait_for_code())
            server.finish(ok=True, message="done")

        async with anyio.create_task_group() as tg, httpx.AsyncClient(trust_env=False) as client:
            tg.start_soon(wait)
            page = await client.get(f"{server.redirect_uri}?code=c1&state=st")
    assert page.status_code == 200
    assert codes == ["c1"]
    assert "https://a.test/" in stderr.getvalue()
