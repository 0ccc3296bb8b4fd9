"""The interactive login: loopback listener, browser, code exchange (RFC 6749 §4.1, RFC 8252).

:func:`pasted_login` is the headless variant: no listener at all; the user
opens the URL anywhere, and pastes back the address the browser was finally
sent to (which fails to load on a machine without the listener).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from ..errors import AuthError
from ..log import get_logger, register_secret
from .browser import PROG, BrowserOpener, show_login_url
from .callback import CallbackConfig, CallbackServer
from .client import TokenClient
from .grants import RequestOptions, TokenSet, build_authorization_url, check_authorization_response
from .pkce import new_pkce, new_state, supports_s256
from .server import ServerConfig

log = get_logger(__name__)
SUCCESS_MESSAGE = "You are logged in. You can close this tab and return to your MCP client."


async def browser_login(
    *,
    server: ServerConfig,
    client_id: str,
    tokens: TokenClient,
    options: RequestOptions,
    callback: CallbackConfig,
    opener: BrowserOpener,
    stderr: TextIO,
) -> TokenSet:
    """Run one authorization-code login with PKCE through the user's browser.

    Raises:
        AuthError: no authorization endpoint, no S256 support, the port is
            taken, the user or server refused, the ``iss`` check failed, the
            exchange failed, or the user did not finish in time.

    """
    endpoint = _check_server(server)
    pkce = new_pkce()
    state = new_state()
    register_secret(pkce.verifier)
    async with CallbackServer(
        callback, state=state, issuer=server.response_issuer, iss_required=server.iss_supported
    ) as listener:
        url = build_authorization_url(
            endpoint,
            client_id=client_id,
            redirect_uri=listener.redirect_uri,
            state=state,
            pkce=pkce,
            options=options,
        )
        log.info("oauth.login_started", redirect_uri=listener.redirect_uri)
        show_login_url(opener, stderr, url)
        code = await listener.wait_for_code()
        try:
            result = await tokens.exchange_code(
                code, redirect_uri=listener.redirect_uri, code_verifier=pkce.verifier
            )
        except AuthError as exc:
            listener.finish(ok=False, message=f"The login could not be completed: {exc}")
            raise
        listener.finish(ok=True, message=SUCCESS_MESSAGE)
    log.info("oauth.login_completed")
    return result


ReadLine = Callable[[], Awaitable[str]]


async def pasted_login(
    *,
    server: ServerConfig,
    client_id: str,
    tokens: TokenClient,
    options: RequestOptions,
    redirect_uri: str,
    stderr: TextIO,
    read_line: ReadLine,
) -> TokenSet:
    """Log in without a loopback listener: print the URL, read the final redirect URL back.

    Raises:
        AuthError: as :func:`browser_login`, or the pasted text is not the
            redirect of this login.

    """
    endpoint = _check_server(server)
    pkce = new_pkce()
    state = new_state()
    register_secret(pkce.verifier)
    url = build_authorization_url(
        endpoint,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        pkce=pkce,
        options=options,
    )
    stderr.write(
        f"{PROG}: to log in, open this URL in a browser on any machine:\n\n    {url}\n\n"
        "After you log in, the browser is sent to an address starting with\n"
        f"{redirect_uri} that cannot load here. Copy that whole address from the\n"
        "address bar and paste it below.\n\nRedirect URL: "
    )
    stderr.flush()
    log.info("oauth.login_started", redirect_uri=redirect_uri, mode="paste")
    params = parse_pasted_redirect(await read_line())
    code = check_authorization_response(
        params,
        expected_state=state,
        issuer=server.response_issuer,
        iss_required=server.iss_supported,
    ).code
    result = await tokens.exchange_code(
        code, redirect_uri=redirect_uri, code_verifier=pkce.verifier
    )
    log.info("oauth.login_completed", mode="paste")
    return result


def parse_pasted_redirect(text: str) -> dict[str, str]:
    """The query parameters of a pasted redirect URL (or of a bare query string)."""
    text = text.strip().strip("'\"<>")
    if "?" in text or "://" in text:
        text = urlsplit(text).query
    params = dict(parse_qsl(text, keep_blank_values=True))
    if not params:
        raise AuthError("the pasted text is not the redirect URL (it carries no parameters)")
    register_secret(params.get("code"))
    return params


async def read_stdin_line() -> str:
    """Read one line from the terminal without blocking the event loop."""
    line: str = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise AuthError("no redirect URL was pasted (end of input)")
    return line


def _check_server(server: ServerConfig) -> str:
    if not server.authorization_endpoint:
        raise AuthError(
            "no authorization endpoint: set OAUTH2_AUTHORIZATION_URL (oauth2.authorizationUrl) "
            "or enable discovery"
        )
    if not supports_s256(server.pkce_methods):
        raise AuthError(
            "the authorization server does not support PKCE with S256; refusing to log in"
        )
    return server.authorization_endpoint


__all__ = [
    "SUCCESS_MESSAGE",
    "ReadLine",
    "browser_login",
    "parse_pasted_redirect",
    "pasted_login",
    "read_stdin_line",
]
