"""The token service: what each grant means, independent of HTTP.

Every method takes an already-authenticated client and plain values, and
either returns the tokens to send or raises :class:`OAuthProtocolError` with
the RFC 6749 §5.2 / RFC 8628 §3.5 error. HTTP parsing lives in the endpoints.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import NoReturn

from .clock import Clock
from .http import OAuthProtocolError, split_scope
from .models import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    AccessTokenRecord,
    AuthorizationCode,
    DeviceAuthorization,
    DeviceState,
    Grant,
    IssuedTokens,
    RefreshState,
    RefreshTokenRecord,
    RegisteredClient,
    new_secret,
    token_key,
)
from .pkce import verifier_matches
from .resources import check_resource, resource_in
from .settings import AuthorizationServerSettings
from .storage import TokenStorage

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words (RFC 8628 §6.1)
SLOW_DOWN_STEP = 5
OFFLINE_ACCESS = "offline_access"
ACCESS_PREFIX = "mcpat_"
REFRESH_PREFIX = "mcprt_"


def normalize_user_code(raw: str) -> str:
    """Upper-case, drop separators, and re-insert the dash: ``bcdf ghjk`` → ``BCDF-GHJK``."""
    letters = "".join(ch for ch in raw.upper() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


def new_user_code() -> str:
    """Return a fresh ``XXXX-XXXX`` user code (about 34 bits of entropy)."""
    return normalize_user_code("".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8)))


class TokenService:
    """Issues, exchanges, rotates and revokes the server's codes and tokens."""

    def __init__(
        self, settings: AuthorizationServerSettings, storage: TokenStorage, clock: Clock
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock

    # -- scopes and resources -------------------------------------------------

    def resolve_scopes(self, requested: str | None, client: RegisteredClient) -> frozenset[str]:
        """Return the scopes to grant, or raise ``invalid_scope`` (RFC 6749 §3.3)."""
        scopes = split_scope(requested) or frozenset(self.settings.default_scopes)
        if client.scope is not None and not requested:
            scopes = scopes & client.scope or client.scope
        unknown = scopes - set(self.settings.scopes_supported)
        if unknown:
            raise OAuthProtocolError("invalid_scope", f"unknown scope {' '.join(sorted(unknown))}")
        # offline_access only asks for a refresh token; registrations rarely list it.
        if client.scope is not None and not scopes - {OFFLINE_ACCESS} <= client.scope:
            raise OAuthProtocolError("invalid_scope", "scope not allowed for this client")
        return scopes

    def resolve_resources(self, requested: str | None) -> tuple[str, ...]:
        """Return the resources to bind, or raise ``invalid_target`` (RFC 8707 §2)."""
        if requested is None:
            default = self.settings.default_resource
            return (default,) if default else ()
        return (check_resource(requested, self.settings.resources),)

    # -- authorization code -----------------------------------------------------

    async def issue_code(
        self,
        client: RegisteredClient,
        *,
        redirect_uri: str,
        redirect_uri_in_request: bool,
        code_challenge: str,
        scopes: frozenset[str],
        resources: tuple[str, ...],
        subject: str,
    ) -> str:
        """Create and store an authorization code; return its value."""
        code = new_secret()
        record = AuthorizationCode(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_in_request=redirect_uri_in_request,
            code_challenge=code_challenge,
            scopes=scopes,
            resources=resources,
            subject=subject,
            expires_at=self.clock.now() + self.settings.code_ttl,
        )
        await self.storage.save_code(token_key(code), record)
        return code

    async def exchange_code(
        self,
        client: RegisteredClient,
        *,
        code: str | None,
        redirect_uri: str | None,
        code_verifier: str | None,
        resource: str | None,
    ) -> IssuedTokens:
        """Redeem an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2)."""
        if not code:
            raise OAuthProtocolError("invalid_request", "code is required")
        if not code_verifier:
            raise OAuthProtocolError("invalid_request", "code_verifier is required")
        grant_id = new_secret(16)
        record = await self.storage.redeem_code(token_key(code), grant_id)
        if record is None:
            raise OAuthProtocolError("invalid_grant", "unknown authorization code")
        if record.redeemed_grant_id is not None:
            # RFC 6749 §4.1.2: a replayed code revokes what the first use produced.
            await self.storage.revoke_grant(record.redeemed_grant_id)
            raise OAuthProtocolError("invalid_grant", "authorization code already used")
        self._check_code(record, client, redirect_uri, code_verifier)
        resources = self._narrow_resources(record.resources, resource)
        grant = Grant(
            grant_id=grant_id,
            client_id=client.client_id,
            subject=record.subject,
            scopes=record.scopes,
            resources=record.resources,
            created_at=self.clock.now(),
        )
        await self.storage.save_grant(grant)
        return await self._issue(grant, client, record.scopes, resources, with_refresh=True)

    def _check_code(
        self,
        record: AuthorizationCode,
        client: RegisteredClient,
        redirect_uri: str | None,
        code_verifier: str,
    ) -> None:
        if record.client_id != client.client_id:
            raise OAuthProtocolError("invalid_grant", "code was issued to another client")
        if record.expires_at <= self.clock.now():
            raise OAuthProtocolError("invalid_grant", "authorization code expired")
        if (record.redirect_uri_in_request or redirect_uri is not None) and (
            redirect_uri != record.redirect_uri
        ):
            raise OAuthProtocolError("invalid_grant", "redirect_uri does not match")
        if not verifier_matches(code_verifier, record.code_challenge):
            raise OAuthProtocolError("invalid_grant", "PKCE verification failed")

    def _narrow_resources(self, bound: tuple[str, ...], requested: str | None) -> tuple[str, ...]:
        if requested is None:
            return bound
        if bound and not resource_in(requested, bound):
            raise OAuthProtocolError("invalid_target", "resource was not part of the authorization")
        return (check_resource(requested, self.settings.resources),)

    # -- refresh ----------------------------------------------------------------

    async def refresh(
        self,
        client: RegisteredClient,
        *,
        refresh_token: str | None,
        scope: str | None,
        resource: str | None,
    ) -> IssuedTokens:
        """Exchange a refresh token, rotating it and detecting reuse (OAuth 2.1 §4.3)."""
        if not refresh_token:
            raise OAuthProtocolError("invalid_request", "refresh_token is required")
        key = token_key(refresh_token)
        current = await self.storage.get_refresh_token(key)
        if current is None or current.client_id != client.client_id:
            raise OAuthProtocolError("invalid_grant", "unknown refresh token")
        if self.settings.rotate_refresh_tokens:
            current = await self.storage.rotate_refresh_token(key) or current
        if current.state is RefreshState.ROTATED:
            await self._refresh_reused(current)
        if current.expires_at is not None and current.expires_at <= self.clock.now():
            raise OAuthProtocolError("invalid_grant", "refresh token expired")
        grant = await self.storage.get_grant(current.grant_id)
        if grant is None or grant.revoked:
            raise OAuthProtocolError("invalid_grant", "grant revoked")
        scopes = split_scope(scope) or current.scopes
        if not scopes <= current.scopes:
            raise OAuthProtocolError("invalid_scope", "scope exceeds the original grant")
        resources = self._narrow_resources(current.resources, resource)
        return await self._issue(
            grant,
            client,
            scopes,
            resources,
            with_refresh=self.settings.rotate_refresh_tokens,
            refresh_scopes=current.scopes,
        )

    async def _refresh_reused(self, record: RefreshTokenRecord) -> NoReturn:
        if self.settings.revoke_grant_on_refresh_reuse:
            await self.storage.revoke_grant(record.grant_id)
        raise OAuthProtocolError("invalid_grant", "refresh token already used")

    # -- client credentials -------------------------------------------------------

    async def client_credentials(
        self, client: RegisteredClient, *, scope: str | None, resource: str | None
    ) -> IssuedTokens:
        """Issue a token to a confidential client for itself (RFC 6749 §4.4)."""
        if client.is_public or GRANT_CLIENT_CREDENTIALS not in client.grant_types:
            raise OAuthProtocolError("unauthorized_client", "client_credentials not allowed")
        scopes = self.resolve_scopes(scope, client) - {OFFLINE_ACCESS}
        resources = self.resolve_resources(resource)
        grant = Grant(
            grant_id=new_secret(16),
            client_id=client.client_id,
            subject=client.client_id,
            scopes=scopes,
            resources=resources,
            created_at=self.clock.now(),
        )
        await self.storage.save_grant(grant)
        return await self._issue(grant, client, scopes, resources, with_refresh=False)

    # -- device authorization ---------------------------------------------------

    async def start_device(
        self, client: RegisteredClient, *, scopes: frozenset[str], resources: tuple[str, ...]
    ) -> tuple[str, DeviceAuthorization]:
        """Create a device authorization (RFC 8628 §3.2); return the device code and record."""
        if GRANT_DEVICE_CODE not in client.grant_types:
            raise OAuthProtocolError("unauthorized_client", "device_code grant not allowed")
        device_code = new_secret()
        device = DeviceAuthorization(
            device_key=token_key(device_code),
            user_code=new_user_code(),
            client_id=client.client_id,
            scopes=scopes,
            resources=resources,
            expires_at=self.clock.now() + self.settings.device_code_ttl,
            interval=self.settings.device_poll_interval,
        )
        await self.storage.save_device(device)
        return device_code, device

    async def decide_device(self, user_code: str, *, approve: bool, subject: str) -> bool:
        """Approve or deny a pending device request; False when no such pending code exists."""
        device = await self.storage.find_device_by_user_code(normalize_user_code(user_code))
        if device is None or device.state is not DeviceState.PENDING:
            return False
        if device.expires_at <= self.clock.now():
            return False
        state = DeviceState.APPROVED if approve else DeviceState.DENIED
        await self.storage.save_device(dataclasses.replace(device, state=state, subject=subject))
        return True

    async def poll_device(
        self, client: RegisteredClient, *, device_code: str | None
    ) -> IssuedTokens:
        """Answer one device-code poll (RFC 8628 §3.4, §3.5)."""
        if not device_code:
            raise OAuthProtocolError("invalid_request", "device_code is required")
        device = await self.storage.get_device(token_key(device_code))
        if device is None or device.client_id != client.client_id:
            raise OAuthProtocolError("invalid_grant", "unknown device code")
        now = self.clock.now()
        if device.expires_at <= now:
            raise OAuthProtocolError("expired_token", "the device code has expired")
        device = await self._note_poll(device, now)
        if device.state is DeviceState.PENDING:
            raise OAuthProtocolError("authorization_pending", "the user has not answered yet")
        if device.state is DeviceState.DENIED:
            raise OAuthProtocolError("access_denied", "the user denied the request")
        if device.state is DeviceState.CONSUMED:
            raise OAuthProtocolError("invalid_grant", "device code already used")
        await self.storage.save_device(dataclasses.replace(device, state=DeviceState.CONSUMED))
        grant = Grant(
            grant_id=new_secret(16),
            client_id=client.client_id,
            subject=device.subject or self.settings.subject,
            scopes=device.scopes,
            resources=device.resources,
            created_at=now,
        )
        await self.storage.save_grant(grant)
        return await self._issue(grant, client, device.scopes, device.resources, with_refresh=True)

    async def _note_poll(self, device: DeviceAuthorization, now: float) -> DeviceAuthorization:
        too_fast = device.last_poll_at is not None and now - device.last_poll_at < device.interval
        interval = device.interval + SLOW_DOWN_STEP if too_fast else device.interval
        device = dataclasses.replace(device, last_poll_at=now, interval=interval)
        await self.storage.save_device(device)
        if too_fast and device.state is DeviceState.PENDING:
            raise OAuthProtocolError("slow_down", f"poll at most every {interval} seconds")
        return device

    # -- revocation and verification ----------------------------------------------

    async def revoke(self, client: RegisteredClient, token: str | None) -> None:
        """Revoke a token of ``client`` (RFC 7009 §2.1); unknown tokens are ignored."""
        if not token:
            raise OAuthProtocolError("invalid_request", "token is required")
        key = token_key(token)
        refresh = await self.storage.get_refresh_token(key)
        if refresh is not None and refresh.client_id == client.client_id:
            # Revoking a refresh token ends the grant and its access tokens (RFC 7009 §2.1).
            await self.storage.revoke_grant(refresh.grant_id)
            return
        access = await self.storage.get_access_token(key)
        if access is not None and access.client_id == client.client_id:
            await self.storage.delete_access_token(key)

    async def lookup_access_token(self, token: str) -> AccessTokenRecord | None:
        """Return the record of a live access token, or None when unknown or expired."""
        record = await self.storage.get_access_token(token_key(token))
        if record is None or record.expires_at <= self.clock.now():
            return None
        return record

    # -- issuing --------------------------------------------------------------------

    async def _issue(
        self,
        grant: Grant,
        client: RegisteredClient,
        scopes: frozenset[str],
        resources: tuple[str, ...],
        *,
        with_refresh: bool,
        refresh_scopes: frozenset[str] | None = None,
    ) -> IssuedTokens:
        now = self.clock.now()
        access = ACCESS_PREFIX + new_secret()
        await self.storage.save_access_token(
            token_key(access),
            AccessTokenRecord(
                client_id=client.client_id,
                subject=grant.subject,
                scopes=scopes,
                resources=resources,
                issued_at=now,
                expires_at=now + self.settings.access_token_ttl,
                grant_id=grant.grant_id,
            ),
        )
        refresh = None
        if with_refresh and self._may_refresh(client, refresh_scopes or scopes):
            refresh = await self._new_refresh_token(grant, client, refresh_scopes or scopes, now)
        return IssuedTokens(
            access_token=access,
            expires_in=self.settings.access_token_ttl,
            scopes=scopes,
            refresh_token=refresh,
        )

    def _may_refresh(self, client: RegisteredClient, scopes: frozenset[str]) -> bool:
        if GRANT_REFRESH_TOKEN not in client.grant_types:
            return False
        return not self.settings.refresh_requires_offline_access or OFFLINE_ACCESS in scopes

    async def _new_refresh_token(
        self, grant: Grant, client: RegisteredClient, scopes: frozenset[str], now: float
    ) -> str:
        value = REFRESH_PREFIX + new_secret()
        ttl = self.settings.refresh_token_ttl
        await self.storage.save_refresh_token(
            token_key(value),
            RefreshTokenRecord(
                client_id=client.client_id,
                grant_id=grant.grant_id,
                scopes=scopes,
                resources=grant.resources,
                issued_at=now,
                expires_at=now + ttl if ttl is not None else None,
            ),
        )
        return value


__all__ = ["TokenService", "new_user_code", "normalize_user_code"]
