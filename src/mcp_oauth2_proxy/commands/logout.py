"""``mcp-oauth2-proxy logout``: forget the stored login and registration of this configuration.

The refresh token is revoked at the server first when it offers RFC 7009
revocation. ``--all`` then forgets every stored login and registration in the
store (those of other configurations are forgotten locally but not revoked:
their endpoints are not known without their configuration). With ``--all`` the
upstream URL may be omitted.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..errors import AuthError, StoreError
from . import COMMANDS, CommandContext
from .common import with_oauth2

HELP = COMMANDS["logout"]
#: Stands in for the upstream URL of ``logout --all`` without a configuration.
NO_UPSTREAM = "https://upstream.invalid/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--all`` for every stored identity."""
    parser.add_argument(
        "--all",
        action="store_true",
        dest="all_identities",
        help="forget every stored login and registration, not only this configuration's",
    )


async def run(settings: Settings, args: argparse.Namespace, cx: CommandContext) -> int:
    """Revoke and forget; exit 0 unless this configuration's login could not be forgotten."""
    status = 0
    store = cx.token_store(settings)
    if settings.upstream.url != NO_UPSTREAM and settings.oauth2.grant != "none":
        async with cx.client(settings) as http:
            status = await _forget_configured(with_oauth2(settings, interactive=False), http, cx)
    if args.all_identities:
        try:
            count = await store.clear()
        except StoreError as exc:
            cx.say(f"Could not forget every stored login: {exc}")
            return 1
        cx.say(f"Forgot {count} stored entr{'y' if count == 1 else 'ies'} in {store.describe()}.")
    return status


async def _forget_configured(settings: Settings, http: Any, cx: CommandContext) -> int:
    from ..auth import create_auth
    from ..auth.identity import registration_key

    store = cx.token_store(settings)
    session = await create_auth(
        settings, http, store=store, stderr=cx.stderr, allow_registration=False
    )
    assert session.manager is not None  # noqa: S101 - grant none is handled by the caller
    try:
        ctx = await session.manager.ensure_context()
    except AuthError as exc:
        if exc.error == "not_registered":
            cx.say("Nothing stored for this configuration (no client was registered).")
            return 0
        cx.say(f"Cannot identify this configuration's login, nothing was forgotten: {exc}")
        return 1
    async with store.lock(ctx.store_key):
        entry = await store.load(ctx.store_key)
        refresh_token = entry.get("refresh_token") if entry else None
        if isinstance(refresh_token, str) and refresh_token:
            cx.say(await _revoke(ctx, refresh_token))
        await store.delete(ctx.store_key)
    where = ctx.server.issuer or ctx.server.identity
    cx.say(f"Forgot the stored login for {where}." if entry else "No login was stored.")
    if ctx.client_source == "registered":
        key = registration_key(ctx.server)
        async with store.lock(key):
            await store.delete(key)
        cx.say(f"Forgot the client registration {ctx.client.client_id}.")
    return 0


async def _revoke(ctx: Any, refresh_token: str) -> str:
    endpoint = ctx.server.revocation_endpoint
    if not endpoint:
        return "The server offers no token revocation (RFC 7009); the token was only forgotten."
    try:
        await ctx.tokens.revoke(endpoint, refresh_token)
    except AuthError as exc:
        return f"The server did not revoke the token ({exc}); it was forgotten anyway."
    return "Revoked the refresh token at the server."


__all__ = ["HELP", "NO_UPSTREAM", "add_arguments", "run"]
