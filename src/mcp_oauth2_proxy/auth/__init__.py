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

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TextIO

import httpx

from ..config import Settings
from ..errors import DiscoveryError
from ..log import get_logger, register_secret
from .assertion import AssertionSigner, load_signer
from .bearer import BearerAuth
from .browser import BrowserOpener, NullOpener, SystemBrowser
from .callback import CallbackConfig, default_redirect_uri
from .client import Clock, SystemClock, TokenClient
from .device import Sleep, device_login
from .discovery import DiscoveryOptions, DiscoveryResult, discover
from .grants import TokenSet, split_extra_params
from .identity import IdentityResolver, registration_redirect_uri
from .login import ReadLine, browser_login, pasted_login
from .manager import ManagerConfig, OAuthContext, TokenManager
from .server import request_options, require_token_endpoint, resolve_server
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

    async def prefetch(self) -> None:
        """Obtain the first token now, so a browser login happens before the first message.

        Raises:
            AuthError: no token could be obtained (exit code 3 at startup).

        """
        if self.manager is not None:
            await self.manager.get_token()

    async def aclose(self) -> None:
        """Release what the session holds (nothing today: locks live only within an operation)."""


async def create_auth(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    store: TokenStore | None = None,
    opener: BrowserOpener | None = None,
    clock: Clock | None = None,
    stderr: TextIO | None = None,
    sleep: Sleep | None = None,
    read_line: ReadLine | None = None,
    allow_registration: bool = True,
) -> AuthSession:
    """Build the authorization for ``settings``; no network traffic happens here.

    ``http`` carries discovery and token requests (never with the bearer token
    or its default headers); the collaborators default to the real ones.
    ``read_line`` switches the browser login to the paste-back variant;
    ``allow_registration=False`` never registers a client (``status``, ``logout``).

    Raises:
        ConfigError: the client assertion key cannot be used.

    """
    o = settings.oauth2
    if o.grant == "none":
        return AuthSession(httpx.Auth())
    _, dropped = split_extra_params(o.extra_params)
    for name in dropped:
        log.warning("oauth.extra_param_ignored", name=name, reason="protocol parameter")
    clock = clock or SystemClock()
    store = store or make_store(settings)
    signer = make_signer(settings)
    err = stderr or sys.stderr
    login, kind = _login_for(
        settings,
        opener=opener,
        stderr=err,
        clock=clock,
        sleep=sleep or asyncio.sleep,
        read_line=read_line,
    )
    manager = TokenManager(
        resolve=partial(
            resolve_context,
            settings,
            http,
            clock,
            store=store,
            signer=signer,
            allow_registration=allow_registration,
        ),
        store=store,
        clock=clock,
        config=manager_config(settings, login_kind=kind),
        login=login,
    )
    return AuthSession(BearerAuth(manager, settings.upstream.url), manager)


def _login_for(
    settings: Settings,
    *,
    opener: BrowserOpener | None,
    stderr: TextIO,
    clock: Clock,
    sleep: Sleep,
    read_line: ReadLine | None,
) -> tuple[Callable[[OAuthContext], Any], str]:
    o = settings.oauth2
    if o.grant == "device_code":
        return partial(_device_login, stderr, clock, sleep), "device login"
    if read_line is not None:
        redirect = registration_redirect_uri(settings)
        return partial(_pasted_login, redirect, stderr, read_line), "pasted redirect"
    browser = opener or (SystemBrowser() if o.open_browser else NullOpener())
    return partial(_browser_login, callback_config(settings), browser, stderr), "browser login"


def make_store(settings: Settings, *, keychain: Callable[[], Any] | None = None) -> TokenStore:
    """Return the store ``oauth2.tokenStore`` asks for.

    ``auto`` and ``keyring`` keep the encrypted files' key in the OS keychain
    (see :mod:`.keychain`); ``auto`` falls back to a key file when the keychain
    is unusable, ``keyring`` fails instead. ``keychain`` replaces the backend
    lookup (tests).
    """
    o = settings.oauth2
    if o.token_store == "memory":  # noqa: S105 - a backend name, not a password
        return MemoryStore()
    if o.token_store == "file":  # noqa: S105 - a backend name, not a password
        return FileStore(o.token_cache_dir)
    from .keychain import KeychainKey, default_backend

    source = KeychainKey(
        backend=keychain or default_backend,
        required=o.token_store == "keyring",  # noqa: S105 - a backend name, not a password
    )
    return FileStore(o.token_cache_dir, key_source=source)


def make_signer(settings: Settings) -> AssertionSigner | None:
    """The client assertion signer, when a key is configured."""
    o = settings.oauth2
    pem = o.client_assertion_key.get_secret_value() if o.client_assertion_key else None
    register_secret(pem)
    return load_signer(
        key_file=o.client_assertion_key_file, key_pem=pem, alg=o.client_assertion_alg
    )


def callback_config(settings: Settings) -> CallbackConfig:
    """Return the loopback listener settings."""
    o = settings.oauth2
    return CallbackConfig(
        host=o.callback_host,
        port=o.callback_port,
        redirect_uri=o.redirect_uri,
        timeout_seconds=float(o.callback_timeout_seconds),
    )


def manager_config(settings: Settings, *, login_kind: str = "browser login") -> ManagerConfig:
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
        login_kind=login_kind,
    )


async def resolve_context(
    settings: Settings,
    http: httpx.AsyncClient,
    clock: Clock,
    *,
    store: TokenStore | None = None,
    signer: AssertionSigner | None = None,
    allow_registration: bool = True,
    rejected: OAuthContext | None = None,
) -> OAuthContext:
    """Discover (unless disabled), merge with configuration, identify the client.

    ``rejected`` is a context whose registered client the server refused: its
    registration is replaced.
    """
    found = await _discover(settings, http)
    server = resolve_server(settings, found)
    identity = await IdentityResolver(
        settings, http, store or MemoryStore(), signer, allow_registration=allow_registration
    ).resolve(server, rejected=rejected.client.client_id if rejected else None)
    client = identity.client
    options = request_options(settings, server)
    tokens = TokenClient(http, require_token_endpoint(server), client, options, clock)
    log.info(
        "oauth.configured",
        issuer=server.issuer,
        authorization_endpoint=server.authorization_endpoint,
        token_endpoint=server.token_endpoint,
        resource=server.resource,
        scope=server.scope,
        client_id=client.client_id,
        client_source=identity.source,
        client_auth=client.method,
    )
    key = StoreKey(server.identity, client.client_id, server.resource)
    return OAuthContext(server, client, options, tokens, key, identity.source)


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


async def _pasted_login(
    redirect_uri: str, stderr: TextIO, read_line: ReadLine, ctx: OAuthContext
) -> TokenSet:
    return await pasted_login(
        server=ctx.server,
        client_id=ctx.client.client_id,
        tokens=ctx.tokens,
        options=ctx.options,
        redirect_uri=redirect_uri,
        stderr=stderr,
        read_line=read_line,
    )


async def _device_login(stderr: TextIO, clock: Clock, sleep: Sleep, ctx: OAuthContext) -> TokenSet:
    return await device_login(
        endpoint=ctx.server.device_authorization_endpoint,
        tokens=ctx.tokens,
        stderr=stderr,
        clock=clock,
        sleep=sleep,
    )


__all__ = [
    "AuthSession",
    "BearerAuth",
    "TokenManager",
    "callback_config",
    "create_auth",
    "make_signer",
    "make_store",
    "manager_config",
    "resolve_context",
]
