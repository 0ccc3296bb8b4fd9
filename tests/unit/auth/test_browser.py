from __future__ import annotations

import io
import subprocess
import sys

import pytest

from mcp_oauth2_proxy.auth import browser as browser_module
from mcp_oauth2_proxy.auth.browser import NullOpener, SystemBrowser, is_openable, show_login_url

URL = "https://auth.test/authorize?response_type=code&client_id=a&state=b"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self.calls.append(argv)
        return subprocess.Popen([sys.executable, "-c", "pass"])


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://a.test/x y",
        "https://a.test/\n",
        "ftp://a.test/",
        "https:///nohost",
    ],
)
def test_only_plain_http_urls_are_openable(url: str) -> None:
    assert not is_openable(url)
    assert not SystemBrowser(env={"DISPLAY": ":0"}, spawn=Recorder()).open(url)


def test_the_url_is_one_argument_of_an_argv_list_never_a_shell_line() -> None:
    spawn = Recorder()
    opener = SystemBrowser(env={"BROWSER": "firefox --new-tab"}, platform="linux", spawn=spawn)
    assert opener.open(URL)
    assert spawn.calls == [["firefox", "--new-tab", URL]]


def test_browser_variable_with_percent_s_substitutes_the_url() -> None:
    opener = SystemBrowser(env={"BROWSER": "mybrowser --url=%s"}, platform="linux")
    assert next(opener.commands(URL)) == ["mybrowser", f"--url={URL}"]


def test_macos_uses_open() -> None:
    assert list(SystemBrowser(env={}, platform="darwin").commands(URL)) == [["open", URL]]


def test_headless_linux_opens_nothing() -> None:
    assert list(SystemBrowser(env={}, platform="linux").commands(URL)) == []
    assert not SystemBrowser(env={}, platform="linux").open(URL)


def test_a_missing_launcher_falls_through_to_the_next() -> None:
    calls: list[list[str]] = []

    def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
        calls.append(argv)
        if argv[0] == "missing-browser":
            raise FileNotFoundError(argv[0])
        return subprocess.Popen([sys.executable, "-c", "pass"])

    opener = SystemBrowser(env={"BROWSER": "missing-browser:other"}, platform="linux", spawn=spawn)
    assert opener.open(URL)
    assert [c[0] for c in calls] == ["missing-browser", "other"]


def test_the_launched_process_cannot_write_to_our_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    proc = browser_module._spawn_detached(
        [sys.executable, "-c", "import sys; print('LEAK'); sys.stderr.write('LEAK2')"]
    )
    proc.wait()
    out, err = capfd.readouterr()
    assert "LEAK" not in out
    assert "LEAK2" not in err


def test_the_url_is_always_printed_on_stderr_even_when_no_browser_opens() -> None:
    err = io.StringIO()
    assert not show_login_url(NullOpener(), err, URL)
    assert URL in err.getvalue()
    assert "open the URL above yourself" in err.getvalue()
