"""Token lifecycle: in-memory access token, proactive refresh, login fallback, ``httpx.Auth``.

The manager owns one access token with an absolute expiry on an injected
clock. Refreshes happen ``refreshSkewSeconds`` early, one at a time (every
caller waits on the same lock, so a rotating refresh token is never used
twice by this process). A refresh rejected with ``invalid_grant`` drops the
stored refresh token and, when interactive, runs the browser login while the
waiting requests keep waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import AuthError, StoreError
from ..log import get_logger, register_secret
from ..urls import origin
from .client import Clock, TokenClient
from .grants import ClientAuth, RequestOptions, TokenSet
from .server import ServerConfig
from .store import StoreKey, TokenStore

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


Login = Callable[[OAuthContext], Awaitable[TokenSet]]
Resolver = Callable[[], Awaitable[OAuthContext]]


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
        self._current: TokenSet | None = None
        self._refresh_at: float | None = None
        self._refresh_token: str | None = None
        self._seed_fp = config.seed_fingerprint()
        self._seed_spent = False
        for secret in (config.authorization_code, config.code_verifier, config.refresh_token):
            register_secret(secret)

    @property
    def context(self) -> OAuthContext | None:
        """The resolved endpoints and client, once discovery has run."""
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
            context = await self._ensure_context()
            tokens = await self._obtain(context)
            self._keep_access(tokens)
            return tokens.access_token

    def invalidate(self, access_token: str | None = None) -> None:
        """Forget the access token (after a 401), unless a newer one already replaced it."""
        if self._current is not None and access_token in (None, self._current.access_token):
            log.info("oauth.token_invalidated")
            self._current = None
            self._refresh_at = None

    # ------------------------------------------------------------ internals

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

    async def _ensure_context(self) -> OAuthContext:
        if self._context is None:
            self._context = await self._resolve()
        return self._context

    async def _obtain(self, ctx: OAuthContext) -> TokenSet:
        if self._config.grant == "client_credentials":
            tokens = await ctx.tokens.client_credentials()
            log.info("oauth.token_obtained", grant="client_credentials")
            return tokens
        refresh_token = await self._usable_refresh_token(ctx)
        if refresh_token is not None:
            return await self._refresh(ctx, refresh_token)
        return await self._first_tokens(ctx)

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

    async def _first_tokens(self, ctx: OAuthContext, *, rejected: bool = False) -> TokenSet:
        code = self._config.authorization_code
        if code and not self._seed_spent:
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
            raise _login_needed(rejected)
        tokens = await self._login(ctx)
        log.info("oauth.token_obtained", grant="authorization_code", source="browser login")
        await self._keep_refresh_token(ctx, tokens, previous=None)
        return tokens

    async def _usable_refresh_token(self, ctx: OAuthContext) -> str | None:
        """Memory first; then the stored token unless a different seed was configured."""
        if self._refresh_token is not None:
            return self._refresh_token
        entry = await self._load_entry(ctx)
        stored = entry.get("refresh_token") if entry else None
        same_lineage = entry is not None and entry.get("seed") == self._seed_fp
        if isinstance(stored, str) and stored and (self._seed_fp is None or same_lineage):
            register_secret(stored)
            self._seed_spent = True  # the configured code already became this token
            return stored
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
            "scope": tokens.scope,
            "token_endpoint": ctx.tokens.token_url,
            "saved_at": int(time.time()),
        }
        try:
            await self._store.save(ctx.store_key, entry)
        except StoreError as exc:
            # The token works for this run; only the next start will need a new login.
            log.warning("oauth.store_write_failed", error=str(exc))
            return
        log.debug("oauth.refresh_token_stored")

    async def _drop_refresh_token(self, ctx: OAuthContext, refresh_token: str) -> None:
        self._refresh_token = None
        entry = await self._load_entry(ctx)
        if entry is not None and entry.get("refresh_token") == refresh_token:
            try:
                await self._store.delete(ctx.store_key)
            except StoreError as exc:
                log.warning("oauth.store_delete_failed", error=str(exc))

    async def _load_entry(self, ctx: OAuthContext) -> dict[str, Any] | None:
        """Load the stored entry; an unreadable store counts as empty (a login replaces it)."""
        try:
            return await self._store.load(ctx.store_key)
        except StoreError as exc:
            log.warning("oauth.store_read_failed", error=str(exc))
            return None


def _login_needed(rejected: bool) -> AuthError:
    why = (
        "the refresh token was rejected by the authorization server (invalid_grant)"
        if rejected
        else "no stored login and no browser login allowed"
    )
    return AuthError(
        f"{why}; log in again: run the proxy once with OAUTH2_INTERACTIVE=true in a terminal, or "
        "supply a new OAUTH2_REFRESH_TOKEN or OAUTH2_AUTHORIZATION_CODE",
        error="invalid_grant" if rejected else "login_required",
    )


class BearerAuth(httpx.Auth):
    """``httpx.Auth`` adding the bearer token to requests for the upstream origin only.

    On a 401 the token is invalidated and the request retried once with a new
    one (RFC 6750 §3.1 ``invalid_token``).
    """

    requires_request_body = True  # the retry must be able to resend the body

    def __init__(self, manager: TokenManager, upstream_url: str) -> None:
        self._manager = manager
        self._origin = origin(upstream_url)

    def sync_auth_flow(
        self,
        request: httpx.Request,  # noqa: ARG002 - httpx's signature
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse synchronous use: tokens are obtained asynchronously."""
        raise RuntimeError("BearerAuth works only with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Authorize ``request``; retry once with a fresh token after a 401."""
        if origin(str(request.url)) != self._origin:
            request.headers.pop("Authorization", None)
            yield request
            return
        token = await self._manager.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        log.info("oauth.upstream_rejected_token", status=401)
        self._manager.invalidate(token)
        token = await self._manager.get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


__all__ = ["BearerAuth", "Login", "ManagerConfig", "OAuthContext", "Resolver", "TokenManager"]
