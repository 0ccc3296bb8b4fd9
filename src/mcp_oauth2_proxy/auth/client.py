"""The token endpoint, as seen from this client: sends what :mod:`.grants` builds."""

from __future__ import annotations

import time
from typing import Protocol

import httpx

from ..errors import AuthError
from ..log import get_logger, register_secret
from .fetch import MAX_TOKEN_RESPONSE_BYTES, TOKEN_TIMEOUT_SECONDS, make_request, send_bounded
from .grants import (
    ClientAuth,
    RequestOptions,
    TokenSet,
    authorization_code_params,
    build_token_request,
    client_credentials_params,
    parse_token_response,
    refresh_params,
)

log = get_logger(__name__)


class Clock(Protocol):
    """Monotonic seconds; injected so tests control expiry without sleeping."""

    def now(self) -> float:
        """Return the current time in seconds."""
        ...


class TokenClient:
    """Token requests for one client at one token endpoint (RFC 6749 §3.2)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client: ClientAuth,
        options: RequestOptions,
        clock: Clock,
        *,
        timeout: float = TOKEN_TIMEOUT_SECONDS,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self._client = client
        self._options = options
        self._clock = clock
        self._timeout = timeout
        register_secret(client.client_secret)

    async def exchange_code(
        self, code: str, *, redirect_uri: str, code_verifier: str | None
    ) -> TokenSet:
        """Redeem an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        register_secret(code)
        register_secret(code_verifier)
        params = authorization_code_params(
            code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            resource=self._options.resource,
        )
        return await self._post(params, "authorization_code")

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Use a refresh token (RFC 6749 §6), with the same ``resource`` (RFC 8707)."""
        register_secret(refresh_token)
        return await self._post(
            refresh_params(refresh_token, resource=self._options.resource), "refresh_token"
        )

    async def client_credentials(self) -> TokenSet:
        """Request a token for the client itself (RFC 6749 §4.4)."""
        return await self._post(client_credentials_params(self._options), "client_credentials")

    async def _post(self, params: list[tuple[str, str]], grant: str) -> TokenSet:
        built = build_token_request(self.token_url, params, self._client, self._options.extra)
        request = make_request(
            "POST",
            self.token_url,
            headers=built.headers,
            content=built.content,
            timeout=self._timeout,
        )
        started = self._clock.now()
        try:
            fetched = await send_bounded(
                self._http, request, max_bytes=MAX_TOKEN_RESPONSE_BYTES, deadline=self._timeout * 2
            )
        except httpx.HTTPError as exc:
            raise AuthError(
                f"cannot reach the token endpoint {self.token_url}: {type(exc).__name__}: {exc}",
                url=self.token_url,
            ) from exc
        try:
            tokens = parse_token_response(
                fetched.status, fetched.content_type, fetched.body, now=started, url=self.token_url
            )
        except AuthError as exc:
            log.warning(
                "oauth.token_request_failed", grant=grant, status=fetched.status, error=exc.error
            )
            raise
        for secret in (tokens.access_token, tokens.refresh_token, tokens.id_token):
            register_secret(secret)
        log.debug(
            "oauth.token_response", grant=grant, expires_at=tokens.expires_at, scope=tokens.scope
        )
        return tokens


class SystemClock:
    """The process's monotonic clock."""

    def now(self) -> float:
        """Return monotonic seconds (immune to wall-clock jumps)."""
        return time.monotonic()


__all__ = ["Clock", "SystemClock", "TokenClient"]
