"""The OAuth 2 client: discovery, login, refresh and storage behind one ``httpx.Auth``.

The bridge never imports this package; the composition root calls
:func:`create_auth` and sets :attr:`AuthSession.auth` on the upstream HTTP
client::

    session = await create_auth(settings, http)
    prefetch = asyncio.create_task(session.prefetch())  # browser opens early
    ...  # http requests now carry the bearer token
    await session.aclose()
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

import httpx

from ..config import Settings
from ..errors import AuthError, DiscoveryError
from ..log import get_logger
from .browser import BrowserOpener, NullOpener, SystemBrowser
from .callback import CallbackConfig, default_redirect_uri
from .client import Clock, SystemClock, TokenClient
from .discovery import DiscoveryOptions, DiscoveryResult, discover
from .grants import TokenSet, split_extra_params
from .login import browser_login
from .manager import BearerAuth, ManagerConfig, OAuthContext, TokenManager
from .server import client_auth, request_options, require_token_endpoint, resolve_server
from .store import FileStore, MemoryStore, StoreKey, TokenStore

log = get_logger(__name__)


@dataclass
class AuthSession:
    """The authorization of one proxy run.

    ``auth`` goes on the upstream ``httpx.AsyncClient``; ``manager`` is None
    for ``OAUTH2_GRANT=none``.
    """

    auth: httpx.Auth
    manager: TokenManager | None = None
    _closed: bool = field(default=False, repr=False)

    async def prefetch(self) -> None:
        """Obtain the first token now, so a browser login happens before the first message.

        Raises:
            AuthError: no token could be obtained (exit code 3 at startup).

        """
        if self.manager is not None:
            await self.manager.get_token()

    async def aclose(self) -> None:
        """Release what the session holds (a later version holds file locks here)."""
        self._closed = True


async def create_auth(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    store: TokenStore | None = None,
    opener: BrowserOpener | None = None,
    clock: Clock | None = None,
    stderr: TextIO | None = None,
) -> AuthSession:
    """Build the authorization for ``settings``; no network traffic happens here.

    ``http`` carries discovery and token requests (never with the bearer token
    or its default headers); the collaborators default to the real ones.

    Raises:
        AuthError: a grant or client authentication this version cannot do.

    """
    o = settings.oauth2
    if o.grant == "none":
        return AuthSession(httpx.Auth())
    if o.grant == "device_code":
        raise AuthError("OAUTH2_GRANT=device_code is not supported by this version")
    if o.auth_style == "private_key_jwt":
        raise AuthError("OAUTH2_AUTH_STYLE=private_key_jwt is not supported by this version")
    _, dropped = split_extra_params(o.extra_params)
    for name in dropped:
        log.warning("oauth.extra_param_ignored", name=name, reason="protocol parameter")
    clock = clock or SystemClock()
    manager = TokenManager(
        resolve=partial(resolve_context, settings, http, clock),
        store=store or make_store(settings),
        clock=clock,
        config=manager_config(settings),
        login=partial(
            _browser_login,
            callback_config(settings),
            opener or (SystemBrowser() if o.open_browser else NullOpener()),
            stderr or sys.stderr,
        ),
    )
    return AuthSession(BearerAuth(manager, settings.upstream.url), manager)


def make_store(settings: Settings) -> TokenStore:
    """Return the store ``oauth2.tokenStore`` asks for (the keychain arrives in a later version)."""
    o = settings.oauth2
    if o.token_store == "memory":  # noqa: S105 - a backend name, not a password
        return MemoryStore()
    if o.token_store == "keyring":  # noqa: S105 - a backend name, not a password
        log.warning("oauth.keyring_unavailable", fallback="encrypted file")
    return FileStore(o.token_cache_dir)


def callback_config(settings: Settings) -> CallbackConfig:
    """Return the loopback listener settings."""
    o = settings.oauth2
    return CallbackConfig(
        host=o.callback_host,
        port=o.callback_port,
        redirect_uri=o.redirect_uri,
        timeout_seconds=float(o.callback_timeout_seconds),
    )


def manager_config(settings: Settings) -> ManagerConfig:
    """Return the token manager's settings, secrets unwrapped."""
    o = settings.oauth2
    return ManagerConfig(
        grant=o.grant,
        refresh_skew_seconds=float(o.refresh_skew_seconds),
        interactive=o.interactive,
        authorization_code=o.authorization_code.get_secret_value()
        if o.authorization_code
        else None,
        code_verifier=o.code_verifier.get_secret_value() if o.code_verifier else None,
        redirect_uri=o.redirect_uri or default_redirect_uri(o.callback_host, o.callback_port),
        refresh_token=o.refresh_token.get_secret_value() if o.refresh_token else None,
    )


async def resolve_context(
    settings: Settings, http: httpx.AsyncClient, clock: Clock
) -> OAuthContext:
    """Discover (unless disabled), merge with configuration, and build the token client."""
    found = await _discover(settings, http)
    server = resolve_server(settings, found)
    client = client_auth(settings, server)
    options = request_options(settings, server)
    tokens = TokenClient(http, require_token_endpoint(server), client, options, clock)
    log.info(
        "oauth.configured",
        issuer=server.issuer,
        authorization_endpoint=server.authorization_endpoint,
        token_endpoint=server.token_endpoint,
        resource=server.resource,
        scope=server.scope,
        client_auth=client.method,
    )
    key = StoreKey(server.identity, client.client_id, server.resource)
    return OAuthContext(server, client, options, tokens, key)


async def _discover(settings: Settings, http: httpx.AsyncClient) -> DiscoveryResult | None:
    if not settings.discovery.enabled:
        return None
    try:
        return await discover(
            http,
            settings.upstream.url,
            options=DiscoveryOptions(allow_insecure_http=settings.allow_insecure_http),
            probe_headers=settings.upstream.headers,
        )
    except DiscoveryError as exc:
        if not _endpoints_configured(settings):
            raise
        log.warning("oauth.discovery_failed", error=str(exc), using="configured endpoints")
        return None


def _endpoints_configured(settings: Settings) -> bool:
    o = settings.oauth2
    needs_authorize = o.grant == "authorization_code" and o.interactive
    return bool(o.token_url) and (bool(o.authorization_url) or not needs_authorize)


async def _browser_login(
    callback: CallbackConfig, opener: BrowserOpener, stderr: TextIO, ctx: OAuthContext
) -> TokenSet:
    return await browser_login(
        server=ctx.server,
        client_id=ctx.client.client_id,
        tokens=ctx.tokens,
        options=ctx.options,
        callback=callback,
        opener=opener,
        stderr=stderr,
    )


__all__ = [
    "AuthSession",
    "BearerAuth",
    "TokenManager",
    "callback_config",
    "create_auth",
    "make_store",
    "manager_config",
    "resolve_context",
]
