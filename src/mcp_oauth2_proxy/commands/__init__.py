"""Commands besides the bridge: ``login``, ``logout``, ``status``.

Each command is a module in this package with ``HELP`` (one line),
``add_arguments(parser)`` and ``async run(settings, args, cx) -> int``; the
table below names them, and a module is imported only when its command runs
(start-up time). The commands are thin: they compose the auth package.
To add a command, add a module and a row.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    import httpx

    from ..auth.browser import BrowserOpener
    from ..auth.login import ReadLine
    from ..auth.store import TokenStore
    from ..config import Settings

#: Command name → one-line help; the module of the same name holds the body.
COMMANDS: dict[str, str] = {
    "login": "log in now and store the login (--no-browser: paste the redirect URL back)",
    "logout": "forget (and revoke) the stored login and registration (--all: every one)",
    "status": "show configuration, discovered endpoints, login and token state (--json)",
}


#: The demo composes the embedded servers with the proxy and takes only its own options.
DEMO_HELP = "watch it work: an OAuth-protected MCP server on this machine (--headless, --serve)"


class Command(Protocol):
    """What a command module provides."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's own options to the shared settings parser."""
        ...

    def run(
        self, settings: Settings, args: argparse.Namespace, cx: CommandContext
    ) -> Awaitable[int]:
        """Run the command; return the exit code."""
        ...


@dataclass
class CommandContext:
    """The collaborators of one command run (tests replace them)."""

    stdout: TextIO
    stderr: TextIO
    http: httpx.AsyncClient | None = None
    store: TokenStore | None = None
    opener: BrowserOpener | None = None
    read_line: ReadLine | None = None
    make_store: Callable[[Settings], TokenStore] | None = None

    def token_store(self, settings: Settings) -> TokenStore:
        """The store for ``settings`` (the injected one when given)."""
        if self.store is None:
            if self.make_store is not None:
                self.store = self.make_store(settings)
            else:
                from ..auth import make_store

                self.store = make_store(settings)
        return self.store

    @asynccontextmanager
    async def client(self, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        """The HTTP client: the injected one, or the bridge's (proxies, OS trust store)."""
        if self.http is not None:
            yield self.http
            return
        from ..app import build_client

        async with build_client(settings) as http:
            yield http

    def say(self, line: str = "") -> None:
        """Write one line of the command's result on stdout."""
        self.stdout.write(line + "\n")
        self.stdout.flush()


def load(name: str) -> Command:
    """Import the module of command ``name``."""
    module: ModuleType = importlib.import_module(f"{__name__}.{name}")
    command: Any = module
    return command  # type: ignore[no-any-return]


def commands_help() -> str:
    """The ``commands:`` section of ``--help``."""
    width = max(len(name) for name in (*COMMANDS, "demo"))
    rows = [f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()]
    demo = f"  {'demo'.ljust(width)}  {DEMO_HELP}"
    return "commands (each accepts the same setting flags):\n" + "\n".join(rows) + f"\n\n{demo}\n"


__all__ = ["COMMANDS", "Command", "CommandContext", "commands_help", "load"]
