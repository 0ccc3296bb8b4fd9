"""Opening the login URL in the user's browser, safely, and always printing it.

The real opener never involves a shell (no ``cmd /c start`` mangling ``&``,
no injection), accepts only http(s) URLs, and detaches the child's stdio so
nothing it prints can reach our stdout, which carries JSON-RPC.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, TextIO
from urllib.parse import urlsplit

from ..log import get_logger

log = get_logger(__name__)
PROG = "mcp-oauth2-proxy"
_LINUX_OPENERS = (
    ["xdg-open"],
    ["gio", "open"],
    ["wslview"],
    ["sensible-browser"],
    ["x-www-browser"],
)


class BrowserOpener(Protocol):
    """Something that can show a URL to the user; returns False when it could not."""

    def open(self, url: str) -> bool:
        """Open ``url``; True when a browser was launched."""
        ...


def is_openable(url: str) -> bool:
    """Only absolute http(s) URLs without whitespace or control characters."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class NullOpener:
    """Never opens anything (``OAUTH2_OPEN_BROWSER=false``): the printed URL is all."""

    def open(self, url: str) -> bool:  # noqa: ARG002 - the protocol's signature
        """Decline to open ``url``."""
        return False


class SystemBrowser:
    """Launch the platform's URL handler without a shell, with stdio detached."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        platform: str = sys.platform,
        spawn: Callable[[list[str]], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        self._env = os.environ if env is None else env
        self._platform = platform
        self._spawn = spawn or _spawn_detached

    def open(self, url: str) -> bool:
        """Open ``url`` in the default browser; False when no launcher worked."""
        if not is_openable(url):
            log.warning("oauth.browser_refused_url")
            return False
        if self._platform == "win32" and not self._env.get("BROWSER"):
            return _startfile(url)
        for argv in self.commands(url):
            try:
                proc = self._spawn(argv)
            except OSError:
                continue
            threading.Thread(target=proc.wait, daemon=True).start()  # reap, never block
            return True
        return False

    def commands(self, url: str) -> Iterator[list[str]]:
        """Candidate command lines, each a list of arguments with the URL as one item."""
        for entry in self._env.get("BROWSER", "").split(os.pathsep):
            if entry.strip():
                args = shlex.split(entry)
                yield [a.replace("%s", url) for a in args] if "%s" in entry else [*args, url]
        if self._platform == "darwin":
            yield ["open", url]
        elif self._platform != "win32" and self._has_display():
            for base in _LINUX_OPENERS:
                if shutil.which(base[0]):
                    yield [*base, url]

    def _has_display(self) -> bool:
        """Tell whether a graphical session (or WSL, whose opener reaches Windows) exists."""
        env = self._env
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("WSL_DISTRO_NAME"))


def _spawn_detached(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - argv list, no shell, URL validated by is_openable
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=sys.platform != "win32",
    )


def _startfile(url: str) -> bool:  # pragma: no cover - Windows only
    starter = getattr(os, "startfile", None)
    if starter is None:
        return False
    try:
        starter(url)  # ShellExecute with the URL as one argument: no command line to mangle
    except OSError:
        return False
    return True


def announce_login_url(stderr: TextIO, url: str) -> None:
    """Print the login URL on stderr, regardless of the log level (SPEC §3)."""
    stderr.write(f"{PROG}: to log in, open this URL in your browser:\n\n    {url}\n\n")
    stderr.flush()


def show_login_url(opener: BrowserOpener, stderr: TextIO, url: str) -> bool:
    """Print ``url`` and ask ``opener`` to open it; True when a browser was launched."""
    announce_login_url(stderr, url)
    opened = opener.open(url)
    if not opened:
        stderr.write(f"{PROG}: no browser was opened; open the URL above yourself.\n")
        stderr.flush()
    return opened


__all__ = [
    "BrowserOpener",
    "NullOpener",
    "SystemBrowser",
    "announce_login_url",
    "is_openable",
    "show_login_url",
]
