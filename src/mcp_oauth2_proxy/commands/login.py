"""``mcp-oauth2-proxy login``: run the configured login now and store it.

``--no-browser`` (``OAUTH2_OPEN_BROWSER=false``) turns the browser login into
the paste-back variant for headless machines: the URL is printed, the user
logs in on any machine and pastes the final redirect URL back; no loopback
port and no SSH tunnel are needed. The device grant needs neither.
"""

from __future__ import annotations

import argparse

from ..config import Settings
from . import COMMANDS, CommandContext
from .common import wall_time, with_oauth2

HELP = COMMANDS["login"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``login`` takes only the setting flags (``--no-browser`` selects paste-back)."""


async def run(settings: Settings, args: argparse.Namespace, cx: CommandContext) -> int:  # noqa: ARG001
    """Log in and store the result; exit 0 on success."""
    from ..auth import create_auth
    from ..auth.client import SystemClock
    from ..auth.login import read_stdin_line

    o = settings.oauth2
    if o.grant == "none":
        cx.say("OAUTH2_GRANT=none: nothing to log in to (static headers only).")
        return 0
    settings = with_oauth2(settings, interactive=True)
    paste = o.grant == "authorization_code" and not o.open_browser
    clock = SystemClock()
    async with cx.client(settings) as http:
        session = await create_auth(
            settings,
            http,
            store=cx.token_store(settings),
            opener=cx.opener,
            clock=clock,
            stderr=cx.stderr,
            read_line=(cx.read_line or read_stdin_line) if paste else None,
        )
        assert session.manager is not None  # noqa: S101 - grant none returned above
        tokens = await session.manager.login_now()
        ctx = session.manager.context
    assert ctx is not None  # noqa: S101 - set by the login
    where = ctx.server.issuer or ctx.server.identity
    cx.say(f"Logged in to {where} as client {ctx.client.client_id} ({ctx.client_source}).")
    expiry = wall_time(tokens.expires_at, clock.now())
    scope = tokens.scope or ctx.options.scope or "-"
    cx.say(f"Access token valid until {expiry or 'the server says nothing'}; scope: {scope}.")
    if o.grant == "client_credentials":
        cx.say("Client credentials need no stored login; the proxy requests tokens itself.")
    elif tokens.refresh_token:
        cx.say(f"The login is stored in {cx.token_store(settings).describe()}.")
    else:
        cx.say("The server issued no refresh token: you will log in again when this token expires.")
    return 0


__all__ = ["HELP", "add_arguments", "run"]
