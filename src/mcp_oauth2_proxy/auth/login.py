"""The interactive login: loopback listener, browser, code exchange (RFC 6749 §4.1, RFC 8252)."""

from __future__ import annotations

from typing import TextIO

from ..errors import AuthError
from ..log import get_logger, register_secret
from .browser import BrowserOpener, show_login_url
from .callback import CallbackConfig, CallbackServer
from .client import TokenClient
from .grants import RequestOptions, TokenSet, build_authorization_url
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
    if not server.authorization_endpoint:
        raise AuthError(
            "no authorization endpoint: set OAUTH2_AUTHORIZATION_URL (oauth2.authorizationUrl) "
            "or enable discovery"
        )
    if not supports_s256(server.pkce_methods):
        raise AuthError(
            "the authorization server does not support PKCE with S256; refusing to log in"
        )
    pkce = new_pkce()
    state = new_state()
    register_secret(pkce.verifier)
    async with CallbackServer(
        callback, state=state, issuer=server.response_issuer, iss_required=server.iss_supported
    ) as listener:
        url = build_authorization_url(
            server.authorization_endpoint,
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


__all__ = ["SUCCESS_MESSAGE", "browser_login"]
