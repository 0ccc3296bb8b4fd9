"""Token lifecycle: in-memory access token, proactive refresh, login fallback, step-up.

The manager owns one access token with an absolute expiry on an injected
clock. Refreshes happen ``refreshSkewSeconds`` early, one at a time: in this
process every caller waits on one ``asyncio.Lock``; across processes the
store's lock for the identity is held around each refresh or login, and the
stored entry is re-read under it, so a refresh token another process rotated
is adopted instead of reused (a rotating refresh token is never used twice)
and only one process runs a browser login while the others wait for its
result. A refresh rejected with ``invalid_grant`` drops the stored refresh
token and, when interactive, logs in again while the waiting requests keep
waiting. A registered client rejected with ``invalid_client`` is registered
again, once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import AuthError, StoreError
from ..log import get_logger, register_secret
from .client import Clock, TokenClient
from .grants import ClientAuth, RequestOptions, TokenSet
from .scopes import scope_covers, union_scopes
from .server import ServerConfig
from .store import Entry, StoreKey, TokenStore, hold

log = get_logger(__name__)
ENTRY_VERSION = 1


@dataclass(frozen=True)
class OAuthContext:
    """Everything resolved (after discovery) for one identity."""

    server: ServerConfig
    client: ClientAuth
    options: RequestOptions
    tokens: TokenClient
    store_key: StoreKey
    client_source: str = "configured"

    def with_scope(self, scope: str | None) -> OAuthContext:
        """This context asking for ``scope`` (step-up authorization)."""
        return dataclasses.replace(
            self,
            options=dataclasses.replace(self.options, scope=scope),
            tokens=self.tokens.with_scope(scope),
        )


Login = Callable[[OAuthContext], Awaitable[TokenSet]]


class Resolver(Protocol):
    """Discovers and builds the context; ``rejected`` is a context whose client was refused."""

    def __call__(self, *, rejected: OAuthContext | None = None) -> Awaitable[OAuthContext]:
        """Return the context to use."""
        ...


@dataclass(frozen=True)
class ManagerConfig:
    """The token-related settings of one run."""

    grant: str = "authorization_code"
    refresh_skew_seconds: float = 30.0
    interactive: bool = True
    authorization_code: str | None = None
    code_verifier: str | None = None
    redirect_uri: str | None = None
    refresh_token: str | None = None
    login_kind: str = "browser login"

    def seed_fingerprint(self) -> str | None:
        """Names the configured code or refresh token without revealing it."""
        if self.authorization_code:
            raw = "code:" + self.authorization_code
        elif self.refresh_token:
            raw = "refresh:" + self.refresh_token
        else:
            return None
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class TokenManager:
    """Hands out a valid access token, obtaining or refreshing it as needed."""

    def __init__(
        self,
        *,
        resolve: Resolver,
        store: TokenStore,
        clock: Clock,
        config: ManagerConfig,
        login: Login | None = None,
    ) -> None:
        self._resolve = resolve
        self._store = store
        self._clock = clock
        self._config = config
        self._login = login
        self._lock = asyncio.Lock()
        self._context: OAuthContext | None = None
        self._scope_override: str | None = None
        self._current: TokenSet | None = None
        self._refresh_at: float | None = None
        self._refresh_token: str | None = None
        self._persisted = False  # the store held our refresh token when we last looked
        self._reregistered = False
        self._seed_fp = config.seed_fingerprint()
        self._seed_spent = False
        for secret in (config.authorization_code, config.code_verifier, config.refresh_token):
            register_secret(secret)

    @property
    def context(self) -> OAuthContext | None:
        """The resolved endpoints and client, once discovery has run."""
        return self._context

    @property
    def store(self) -> TokenStore:
        """Where refresh tokens and registrations are kept."""
        return self._store

    @property
    def current(self) -> TokenSet | None:
        """The access token in memory, if any."""
        return self._current

    async def ensure_context(self) -> OAuthContext:
        """Discover and resolve the client now (at most once)."""
        if self._context is None:
            self._context = self._scoped(await self._resolve())
        return self._context

    async def get_token(self) -> str:
        """Return a valid access token, refreshing or logging in first when needed.

        Raises:
            AuthError: no token could be obtained; the message says how to fix it.

        """
        current = self._current
        if current is not None and self._fresh():
            return current.access_token
        async with self._lock:
            current = self._current
            if current is not None and self._fresh():
                return current.access_token
            tokens = await self._with_client_retry(self._obtain)
            self._keep_access(tokens)
            return tokens.access_token

    async def login_now(self) -> TokenSet:
        """Log in (or request client credentials) now, whatever is stored."""
        async with self._lock:
            tokens = await self._with_client_retry(self._reauthorize)
            self._keep_access(tokens)
            return tokens

    async def step_up(self, used_token: str, required_scope: str | None) -> None:
        """Authorize again with the union of the current and the required scopes.

        Requests that failed together share one re-authorization: when the
        token was replaced meanwhile by one that covers ``required_scope``,
        nothing more happens.

        Raises:
            AuthError: the new authorization failed or needs a login that is not allowed.

        """
        async with self._lock:
            ctx = await self.ensure_context()
            current = self._current
            granted = (current.scope if current else None) or ctx.options.scope
            if (
                current is not None
                and current.access_token != used_token
                and scope_covers(granted, required_scope)
            ):
                return
            self._scope_override = union_scopes(ctx.options.scope, granted, required_scope)
            self._context = self._scoped(ctx)
            log.info("oauth.step_up", scope=self._scope_override)
            tokens = await self._with_client_retry(self._step_up_tokens)
            self._keep_access(tokens)

    def invalidate(self, access_token: str | None = None) -> None:
        """Forget the access token (after a 401), unless a newer one already replaced it."""
        if self._current is not None and access_token in (None, self._current.access_token):
            log.info("oauth.token_invalidated")
            self._current = None
            self._refresh_at = None

    async def stored_entry(self) -> Entry | None:
        """The stored entry of this identity (for ``status``; holds a secret)."""
        ctx = await self.ensure_context()
        entry, _ = await self._load_entry(ctx)
        return entry

    # ------------------------------------------------------------ internals

    def _scoped(self, ctx: OAuthContext) -> OAuthContext:
        if self._scope_override is None or ctx.options.scope == self._scope_override:
            return ctx
        return ctx.with_scope(self._scope_override)

    def _fresh(self) -> bool:
        return self._refresh_at is None or self._clock.now() < self._refresh_at

    def _keep_access(self, tokens: TokenSet) -> None:
        self._current = tokens
        if tokens.expires_at is None:
            self._refresh_at = None
            return
        lifetime = max(0.0, tokens.expires_at - self._clock.now())
        # A skew longer than half the lifetime would refresh on every request.
        self._refresh_at = tokens.expires_at - min(self._config.refresh_skew_seconds, lifetime / 2)

    async def _with_client_retry(
        self, operation: Callable[[OAuthContext], Awaitable[TokenSet]]
    ) -> TokenSet:
        """Run ``operation``; a registered client refused as ``invalid_client`` is replaced once."""
        ctx = await self.ensure_context()
        try:
            return await operation(ctx)
        except AuthError as exc:
            if (
                exc.error != "invalid_client"
                or ctx.client_source != "registered"
                or self._reregistered
            ):
                raise
        self._reregistered = True
        log.warning("oauth.client_rejected", client_id=ctx.client.client_id, action="register")
        await self._forget(ctx)
        self._context = self._scoped(await self._resolve(rejected=ctx))
        return await operation(self._context)

    async def _obtain(self, ctx: OAuthContext) -> TokenSet:
        if self._config.grant == "client_credentials":
            return await self._client_credentials(ctx)
        async with hold(self._store, ctx.store_key):
            refresh_token = await self._usable_refresh_token(ctx)
            if refresh_token is not None:
                return await self._refresh(ctx, refresh_token)
            return await self._first_tokens(ctx)

    async def _reauthorize(self, ctx: OAuthContext) -> TokenSet:
        if self._config.grant == "client_credentials":
            return await self._client_credentials(ctx)
        async with hold(self._store, ctx.store_key):
            return await self._first_tokens(ctx, fresh=True)

    async def _step_up_tokens(self, ctx: OAuthContext) -> TokenSet:
        if self._config.grant == "client_credentials":
            return await self._client_credentials(ctx)
        async with hold(self._store, ctx.store_key):
            return await self._first_tokens(ctx, fresh=True, step_up=True)

    async def _client_credentials(self, ctx: OAuthContext) -> TokenSet:
        tokens = await ctx.tokens.client_credentials()
        log.info("oauth.token_obtained", grant="client_credentials", scope=tokens.scope)
        return tokens

    async def _refresh(self, ctx: OAuthContext, refresh_token: str) -> TokenSet:
        try:
            tokens = await ctx.tokens.refresh(refresh_token)
        except AuthError as exc:
            if exc.error != "invalid_grant":
                raise
            log.warning("oauth.refresh_rejected", error=exc.error)
            await self._drop_refresh_token(ctx, refresh_token)
            return await self._first_tokens(ctx, rejected=True)
        log.info("oauth.token_refreshed", rotated=bool(tokens.refresh_token))
        await self._keep_refresh_token(ctx, tokens, previous=refresh_token)
        return tokens

    async def _first_tokens(
        self,
        ctx: OAuthContext,
        *,
        rejected: bool = False,
        fresh: bool = False,
        step_up: bool = False,
    ) -> TokenSet:
        """A configured code (once), else a login; ``fresh`` skips the configured code."""
        code = self._config.authorization_code
        if code and not self._seed_spent and not fresh:
            self._seed_spent = True
            if not self._config.redirect_uri:
                raise AuthError("oauth2.authorizationCode needs the redirect URI it was issued for")
            tokens = await ctx.tokens.exchange_code(
                code,
                redirect_uri=self._config.redirect_uri,
                code_verifier=self._config.code_verifier,
            )
            log.info("oauth.token_obtained", grant="authorization_code", source="configured code")
            await self._keep_refresh_token(ctx, tokens, previous=None)
            return tokens
        if self._login is None or not self._config.interactive:
            raise _login_needed(rejected, ctx.options.scope if step_up else None)
        tokens = await self._login(ctx)
        log.info("oauth.token_obtained", grant=self._config.grant, source=self._config.login_kind)
        await self._keep_refresh_token(ctx, tokens, previous=None)
        return tokens

    async def _usable_refresh_token(self, ctx: OAuthContext) -> str | None:
        """Under the identity's lock: the stored token first (another process may have rotated it).

        Our own copy is used only when the store never held it or cannot be
        read; a stored token that vanished was removed on purpose (logout, or
        rejected), so ours is not tried again.
        """
        entry, readable = await self._load_entry(ctx)
        stored = entry.get("refresh_token") if entry else None
        same_lineage = entry is not None and entry.get("seed") == self._seed_fp
        if isinstance(stored, str) and stored and (self._seed_fp is None or same_lineage):
            register_secret(stored)
            if self._refresh_token is not None and stored != self._refresh_token:
                log.debug("oauth.refresh_token_adopted", reason="rotated by another process")
            self._refresh_token = stored
            self._persisted = True
            self._seed_spent = True  # a configured seed already became this token
            return stored
        if self._refresh_token is not None and (not self._persisted or not readable):
            return self._refresh_token
        self._refresh_token = None
        seed = self._config.refresh_token
        if seed and not self._seed_spent and not self._config.authorization_code:
            self._seed_spent = True
            return seed
        return None

    async def _keep_refresh_token(
        self,
        ctx: OAuthContext,
        tokens: TokenSet,
        *,
        previous: str | None,
    ) -> None:
        """Remember a new refresh token, and store it when it changed.

        The entry records which configured seed (if any) was in force, so a
        rotated token wins over that seed on the next start, while a newly
        configured seed wins over the stored token.
        """
        new = tokens.refresh_token
        self._refresh_token = new or previous
        if not new or new == previous:
            return  # not rotated: the stored entry (if any) is still right
        entry: dict[str, Any] = {
            "version": ENTRY_VERSION,
            "refresh_token": new,
            "seed": self._seed_fp,
            "scope": tokens.scope or ctx.options.scope,
            "token_endpoint": ctx.tokens.token_url,
            "client_id": ctx.client.client_id,
            "saved_at": int(time.time()),
        }
        try:
            await self._store.save(ctx.store_key, entry)
        except StoreError as exc:
            # The token works for this run; only the next start will need a new login.
            self._persisted = False
            log.warning("oauth.store_write_failed", error=str(exc))
            return
        self._persisted = True
        log.debug("oauth.refresh_token_stored")

    async def _drop_refresh_token(self, ctx: OAuthContext, refresh_token: str) -> None:
        self._refresh_token = None
        self._persisted = False
        entry, _ = await self._load_entry(ctx)
        if entry is not None and entry.get("refresh_token") == refresh_token:
            await self._delete(ctx.store_key)

    async def _forget(self, ctx: OAuthContext) -> None:
        """Drop what belongs to a client the server no longer knows."""
        self._refresh_token = None
        self._persisted = False
        self._current = None
        await self._delete(ctx.store_key)

    async def _delete(self, key: StoreKey) -> None:
        try:
            await self._store.delete(key)
        except StoreError as exc:
            log.warning("oauth.store_delete_failed", error=str(exc))

    async def _load_entry(self, ctx: OAuthContext) -> tuple[Entry | None, bool]:
        """Load the stored entry and whether the store could be read (unreadable = empty)."""
        try:
            return await self._store.load(ctx.store_key), True
        except StoreError as exc:
            log.warning("oauth.store_read_failed", error=str(exc))
            return None, False


def _login_needed(rejected: bool, step_up_scope: str | None = None) -> AuthError:
    if step_up_scope is not None:
        return AuthError(
            f"the upstream needs a new authorization for scope {step_up_scope!r}, but no "
            "interactive login is allowed; run `mcp-oauth2-proxy login` with OAUTH2_SCOPE set",
            error="insufficient_scope",
        )
    why = (
        "the refresh token was rejected by the authorization server (invalid_grant)"
        if rejected
        else "no stored login and no interactive login allowed"
    )
    return AuthError(
        f"{why}; log in again: run `mcp-oauth2-proxy login` in a terminal (or the proxy with "
        "OAUTH2_INTERACTIVE=true), or supply a new OAUTH2_REFRESH_TOKEN or "
        "OAUTH2_AUTHORIZATION_CODE",
        error="invalid_grant" if rejected else "login_required",
    )


__all__ = ["Login", "ManagerConfig", "OAuthContext", "Resolver", "TokenManager"]
