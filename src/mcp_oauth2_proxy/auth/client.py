"""The token endpoint, as seen from this client: sends what :mod:`.grants` builds."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Protocol

import httpx
from pydantic import ValidationError

from ..errors import AuthError
from ..log import get_logger, register_secret
from .fetch import (
    MAX_TOKEN_RESPONSE_BYTES,
    TOKEN_TIMEOUT_SECONDS,
    Fetched,
    make_request,
    send_bounded,
)
from .grants import (
    ClientAuth,
    RequestOptions,
    TokenSet,
    authorization_code_params,
    build_token_request,
    client_credentials_params,
    device_authorization_params,
    device_code_params,
    parse_token_response,
    refresh_params,
    revocation_params,
)
from .models import DeviceAuthorizationResponse

#: Token endpoint errors that are part of normal device-flow polling (RFC 8628 §3.5).
POLLING_ERRORS = frozenset({"authorization_pending", "slow_down"})

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

    @property
    def client(self) -> ClientAuth:
        """The client these requests authenticate as."""
        return self._client

    @property
    def options(self) -> RequestOptions:
        """Scope, resource, audience and extra parameters of these requests."""
        return self._options

    def with_scope(self, scope: str | None) -> TokenClient:
        """The same client asking for ``scope`` (for step-up authorization)."""
        options = dataclasses.replace(self._options, scope=scope)
        return TokenClient(
            self._http, self.token_url, self._client, options, self._clock, timeout=self._timeout
        )

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

    async def device_authorization(self, endpoint: str) -> DeviceAuthorizationResponse:
        """Start a device login (RFC 8628 §3.1); return the codes to show and poll with.

        Raises:
            AuthError: the endpoint was unreachable or refused.

        """
        fetched = await self._send(
            endpoint, device_authorization_params(self._options), "device authorization"
        )
        if fetched.status != 200:
            # An error response has the token endpoint's shape (RFC 8628 §3.2).
            parse_token_response(
                fetched.status, fetched.content_type, fetched.body, now=0, url=endpoint
            )
        try:
            answer = DeviceAuthorizationResponse.model_validate(json.loads(fetched.body))
        except (ValueError, ValidationError):
            raise AuthError(
                "the device authorization endpoint answered without usable codes", url=endpoint
            ) from None
        register_secret(answer.device_code)
        return answer

    async def poll_device(self, device_code: str) -> TokenSet:
        """Ask once whether the user finished the device login (RFC 8628 §3.4)."""
        return await self._post(device_code_params(device_code), "device_code")

    async def revoke(self, endpoint: str, token: str, *, hint: str = "refresh_token") -> None:
        """Revoke ``token`` (RFC 7009 §2); a 200 means revoked or already invalid.

        Raises:
            AuthError: the endpoint was unreachable or refused.

        """
        fetched = await self._send(endpoint, revocation_params(token, hint=hint), "revocation")
        if fetched.status != 200:
            parse_token_response(
                fetched.status, fetched.content_type, fetched.body, now=0, url=endpoint
            )

    async def _send(self, url: str, params: list[tuple[str, str]], what: str) -> Fetched:
        built = build_token_request(url, params, self._client, self._options.extra)
        request = make_request(
            "POST", url, headers=built.headers, content=built.content, timeout=self._timeout
        )
        try:
            return await send_bounded(
                self._http, request, max_bytes=MAX_TOKEN_RESPONSE_BYTES, deadline=self._timeout * 2
            )
        except httpx.HTTPError as exc:
            raise AuthError(
                f"cannot reach the {what} endpoint {url}: {type(exc).__name__}: {exc}", url=url
            ) from exc

    async def _post(self, params: list[tuple[str, str]], grant: str) -> TokenSet:
        started = self._clock.now()
        fetched = await self._send(self.token_url, params, "token")
        try:
            tokens = parse_token_response(
                fetched.status, fetched.content_type, fetched.body, now=started, url=self.token_url
            )
        except AuthError as exc:
            quiet = grant == "device_code" and exc.error in POLLING_ERRORS
            (log.debug if quiet else log.warning)(
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
