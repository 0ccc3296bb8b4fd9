"""``mcp-oauth2-proxy status``: what is configured, discovered, stored and usable.

Never prints a secret: tokens, client secrets, assertion keys and header
values are left out or shown as ``(set)``. The check is real but never
interactive: it refreshes the stored login (storing a rotated refresh token
as the proxy would) or requests client credentials, and never registers a
client. Exit 0 when a usable access token was obtained, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import Settings
from ..errors import AuthError
from . import COMMANDS, CommandContext
from .common import configured_summary, iso, wall_time, with_oauth2

HELP = COMMANDS["status"]
NOT_USABLE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` for scripts."""
    parser.add_argument("--json", action="store_true", dest="json", help="print JSON")


async def run(settings: Settings, args: argparse.Namespace, cx: CommandContext) -> int:
    """Print the report; exit 0 when a usable token exists."""
    report = await collect(settings, cx)
    if args.json:
        cx.say(json.dumps(report, indent=2, sort_keys=False))
    else:
        cx.say(render(report))
    return 0 if report["token"]["usable"] else NOT_USABLE


async def collect(settings: Settings, cx: CommandContext) -> dict[str, Any]:
    """Build the status report (a JSON-ready dict without secrets)."""
    report: dict[str, Any] = {
        "upstream": settings.upstream.url,
        "grant": settings.oauth2.grant,
        "configured": configured_summary(settings),
        "token": {"usable": False},
    }
    if settings.oauth2.grant == "none":
        report["token"] = {"usable": True, "note": "no OAuth: static headers only"}
        return report
    store = cx.token_store(settings)
    report["storage"] = store.describe()
    async with cx.client(settings) as http:
        await _check(with_oauth2(settings, interactive=False), http, cx, report)
    report["storage"] = store.describe()  # now says whether the keychain answered
    return report


async def _check(settings: Settings, http: Any, cx: CommandContext, report: dict[str, Any]) -> None:
    from ..auth import create_auth
    from ..auth.client import SystemClock

    clock = SystemClock()
    session = await create_auth(
        settings,
        http,
        store=cx.token_store(settings),
        clock=clock,
        stderr=cx.stderr,
        allow_registration=False,
    )
    manager = session.manager
    assert manager is not None  # noqa: S101 - grant none is handled by the caller
    try:
        ctx = await manager.ensure_context()
    except AuthError as exc:
        report["token"] = {"usable": False, "reason": str(exc)}
        return
    server = ctx.server
    report["authorization_server"] = {
        "issuer": server.issuer,
        "authorization_endpoint": server.authorization_endpoint,
        "token_endpoint": server.token_endpoint,
        "device_authorization_endpoint": server.device_authorization_endpoint,
        "registration_endpoint": server.registration_endpoint,
        "revocation_endpoint": server.revocation_endpoint,
        "resource": server.resource,
        "scope": ctx.options.scope,
    }
    report["client"] = {
        "client_id": ctx.client.client_id,
        "source": ctx.client_source,
        "auth_method": ctx.client.method,
    }
    entry = await manager.stored_entry()
    report["stored_login"] = {
        "present": bool(entry and entry.get("refresh_token")),
        "saved_at": iso(entry.get("saved_at")) if entry else None,
        "scope": entry.get("scope") if entry else None,
    }
    try:
        await manager.get_token()
    except AuthError as exc:
        report["token"] = {"usable": False, "reason": str(exc)}
        return
    tokens = manager.current
    report["token"] = {
        "usable": True,
        "expires_at": wall_time(tokens.expires_at, clock.now()) if tokens else None,
        "scope": tokens.scope if tokens else None,
    }


def render(report: dict[str, Any]) -> str:
    """The human-readable form of the report."""
    lines = [f"upstream:     {report['upstream']}", f"grant:        {report['grant']}"]
    if "storage" in report:
        lines.append(f"storage:      {report['storage']}")
    server = report.get("authorization_server")
    if server:
        lines.append("authorization server:")
        lines += [f"  {k}: {v}" for k, v in server.items() if v]
    client = report.get("client")
    if client:
        lines.append(
            f"client:       {client['client_id']} ({client['source']}, {client['auth_method']})"
        )
    stored = report.get("stored_login")
    if stored is not None:
        shown = f"yes, saved {stored['saved_at']}" if stored["present"] else "no"
        lines.append(f"stored login: {shown}")
    token = report["token"]
    if token["usable"]:
        lines.append(
            f"token:        usable, expires {token.get('expires_at') or 'never (says the server)'}"
        )
        if token.get("scope"):
            lines.append(f"              scope {token['scope']}")
    else:
        lines.append(f"token:        NOT usable: {token.get('reason', 'unknown')}")
    lines.append("configured:")
    lines += [f"  {k} = {v}" for k, v in report["configured"].items()]
    return "\n".join(lines)


__all__ = ["HELP", "add_arguments", "collect", "render", "run"]
