"""Command line: argv → Settings → wiring → run → exit code.

The only composition root. Heavy modules (httpx, pydantic, the bridge) are
imported inside the functions that need them so that ``--help`` and
``--version`` answer instantly and a launch reaches the first message early.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, TextIO

from . import __version__
from .errors import EXIT_UNEXPECTED, EXIT_USAGE, ConfigError, ProxyError
from .settings_table import SETTINGS, Setting

if TYPE_CHECKING:
    from .config import Settings

PROG = "mcp-oauth2-proxy"

EPILOG = """\
examples:
  mcp-oauth2-proxy https://mcp.example.com/mcp
      log in through the browser (once) and bridge stdio to the server
  UPSTREAM_URL=https://mcp.example.com/mcp OAUTH2_CLIENT_ID=my-app mcp-oauth2-proxy
      the same, configured from the environment
  mcp-oauth2-proxy --grant none --header "X-API-Key: ${API_KEY}" https://mcp.example.com/mcp
      no OAuth: send a static header instead
  LOG_LEVEL=debug mcp-oauth2-proxy https://mcp.example.com/mcp
      debug in a terminal: paste JSON-RPC lines on stdin, logs go to stderr

Every setting is also read from the environment (UPSTREAM_*, OAUTH2_*, LOG_LEVEL,
DISCOVERY_ENABLED, ...) and from the JSON file named by MCP_PROXY_CONFIG;
flags win over the environment, which wins over the file.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ConfigError line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"usage: {message} (see {PROG} --help)")


def build_parser(
    command: str | None = None, description: str | None = None
) -> argparse.ArgumentParser:
    """Return the parser of the bridge (the default), or of ``command`` with the same flags."""
    if command is None:
        from .commands import commands_help

        description = (
            "Local stdio MCP server that bridges to a remote OAuth 2-protected MCP server over "
            "Streamable HTTP."
        )
        epilog: str | None = commands_help() + "\n" + EPILOG
    else:
        epilog = None
    p = _Parser(
        prog=f"{PROG} {command}" if command else PROG,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--config", metavar="PATH", help="JSON config file (MCP_PROXY_CONFIG)")
    for setting in SETTINGS:
        if setting.flag is not None:
            _add_flag(p, setting)
    return p


def _add_flag(p: argparse.ArgumentParser, s: Setting) -> None:
    help_text = f"{s.meaning} ({s.env})"
    assert s.flag is not None  # noqa: S101 - the caller filters; this narrows the type
    if s.flag == "URL":
        p.add_argument("url", nargs="?", metavar="URL", help=help_text)
    elif s.switch is not None:
        p.add_argument(s.flag, dest=s.path, action="store_true", help=help_text)
    elif s.path == "upstream.headers":
        p.add_argument(
            s.flag, dest=s.path, action="append", metavar="'NAME: VALUE'", help=help_text
        )
    else:
        metavar = s.flag.lstrip("-").split("-")[-1].upper() if not s.choices else None
        choices = s.choices or None
        p.add_argument(s.flag, dest=s.path, choices=choices, metavar=metavar, help=help_text)


def flags_from_args(ns: argparse.Namespace) -> dict[str, tuple[object, str]]:
    """Turn parsed arguments into ``{setting path: (value, flag)}`` for the loader."""
    flags: dict[str, tuple[object, str]] = {}
    for s in SETTINGS:
        if s.flag is None:
            continue
        value = getattr(ns, "url" if s.flag == "URL" else s.path, None)
        if value is None or value is False:
            continue
        if s.switch is not None:
            value = s.switch
        elif s.path == "upstream.headers":
            value = parse_header_flags(value)
        flags[s.path] = (value, s.flag)
    return flags


def parse_header_flags(items: Sequence[str]) -> dict[str, str]:
    """Parse repeated ``--header 'Name: value'`` options into a dict."""
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(
                f"upstream.headers: command line --header {name.strip()!r} must look like "
                "'Name: value'",
                field="upstream.headers",
                source="command line --header",
            )
        headers[name.strip()] = value.strip()
    return headers


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Run the program with ``argv`` (without the program name); return the exit code."""
    err = stderr or sys.stderr
    args = list(sys.argv[1:] if argv is None else argv)
    state = {"debug": False}
    try:
        if args[:1] == ["demo"]:  # parses its own arguments: it configures no proxy settings
            from .commands import demo

            return demo.run(args[1:], stderr=err)
        from .commands import COMMANDS

        if args and args[0] in COMMANDS:
            return _run_command(args[0], args[1:], err, state)
        ns = build_parser().parse_args(args)
        from .config import load_settings

        settings = load_settings(flags=flags_from_args(ns), config_path=ns.config)
        state["debug"] = settings.log.level in ("trace", "debug")
        return _run_bridge(settings)
    except ProxyError as exc:
        _report(err, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        _report(err, exc, traceback=state["debug"])
        return EXIT_UNEXPECTED


def _run_bridge(settings: Settings) -> int:
    """Start the stdio bridge (the default command)."""
    from .app import run

    return run(settings)


def _run_command(name: str, argv: list[str], err: TextIO, state: dict[str, bool]) -> int:
    """Parse ``argv`` for command ``name`` (the setting flags plus its own) and run it."""
    from .commands import CommandContext, load

    command = load(name)
    parser = build_parser(name, command.HELP)
    command.add_arguments(parser)
    ns = parser.parse_args(argv)
    settings = _command_settings(ns)
    state["debug"] = settings.log.level in ("trace", "debug")
    from .log import configure_logging

    # A command's own output is the point: the bridge's info events would drown it.
    level = "warn" if settings.log.level == "info" else settings.log.level
    configure_logging(level, settings.log.format, err, settings.upstream.headers.values())
    import anyio

    context = CommandContext(stdout=sys.stdout, stderr=err)
    code: int = anyio.run(command.run, settings, ns, context)
    return code


def _command_settings(ns: argparse.Namespace) -> Settings:
    """Load the settings; ``logout --all`` may omit the upstream URL."""
    from .config import load_settings

    flags = flags_from_args(ns)
    try:
        return load_settings(flags=flags, config_path=ns.config)
    except ConfigError as exc:
        if exc.field != "upstream.url" or not getattr(ns, "all_identities", False):
            raise
    from .commands.logout import NO_UPSTREAM

    flags["upstream.url"] = (NO_UPSTREAM, "--all")
    return load_settings(flags=flags, config_path=ns.config)


def _report(err: TextIO, exc: BaseException, *, traceback: bool = False) -> None:
    from .log import redact_text

    if isinstance(exc, ConfigError):
        line = f"{PROG}: configuration error: {exc}"
    elif isinstance(exc, ProxyError):
        line = f"{PROG}: error: {exc}"
    else:
        line = f"{PROG}: unexpected error: {type(exc).__name__}: {exc}"
    err.write(redact_text(" ".join(line.split())) + "\n")
    if traceback:
        import traceback as tb

        err.write(redact_text("".join(tb.format_exception(type(exc), exc, exc.__traceback__))))
    err.flush()


def entry_point() -> NoReturn:
    """Console-script entry: exit with :func:`main`'s code."""
    sys.exit(main())


__all__ = ["EXIT_USAGE", "build_parser", "entry_point", "flags_from_args", "main"]
