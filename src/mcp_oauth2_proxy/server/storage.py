"""The authorization server's state behind one seam: codes, grants, tokens, device requests.

Operations that must not race (redeeming a code, rotating a refresh token) are
single compare-and-set methods, so a database-backed store can implement them
atomically. Keys are :func:`~.models.token_key` hashes, never token values.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Protocol

from .models import (
    AccessTokenRecord,
    AuthorizationCode,
    DeviceAuthorization,
    Grant,
    RefreshState,
    RefreshTokenRecord,
)


class TokenStorage(Protocol):
    """Where the authorization server keeps everything it issued."""

    async def save_code(self, key: str, code: AuthorizationCode) -> None:
        """Store a new authorization code."""
        ...

    async def redeem_code(self, key: str, grant_id: str) -> AuthorizationCode | None:
        """Mark a code redeemed for ``grant_id``; return it as it was before (None if unknown)."""
        ...

    async def save_grant(self, grant: Grant) -> None:
        """Store a new grant."""
        ...

    async def get_grant(self, grant_id: str) -> Grant | None:
        """Return a grant, revoked or not."""
        ...

    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and delete every token issued under it."""
        ...

    async def save_access_token(self, key: str, record: AccessTokenRecord) -> None:
        """Store a new access token."""
        ...

    async def get_access_token(self, key: str) -> AccessTokenRecord | None:
        """Return an access token's record."""
        ...

    async def delete_access_token(self, key: str) -> None:
        """Forget an access token."""
        ...

    async def save_refresh_token(self, key: str, record: RefreshTokenRecord) -> None:
        """Store a new refresh token."""
        ...

    async def get_refresh_token(self, key: str) -> RefreshTokenRecord | None:
        """Return a refresh token's record."""
        ...

    async def rotate_refresh_token(self, key: str) -> RefreshTokenRecord | None:
        """Mark a refresh token rotated; return it as it was before (None if unknown)."""
        ...

    async def delete_refresh_token(self, key: str) -> None:
        """Forget a refresh token."""
        ...

    async def save_device(self, device: DeviceAuthorization) -> None:
        """Store or replace a device authorization (keyed by device key and user code)."""
        ...

    async def get_device(self, device_key: str) -> DeviceAuthorization | None:
        """Return a device authorization by its device-code key."""
        ...

    async def find_device_by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        """Return a device authorization by its user code."""
        ...


class InMemoryTokenStorage:
    """A :class:`TokenStorage` in dictionaries, for the demo and tests.

    Each method completes without awaiting, so on one event loop every method
    is atomic.
    """

    def __init__(self) -> None:
        self.codes: dict[str, AuthorizationCode] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessTokenRecord] = {}
        self.refresh_tokens: dict[str, RefreshTokenRecord] = {}
        self.devices: dict[str, DeviceAuthorization] = {}
        self._device_by_user_code: dict[str, str] = {}
        self._by_grant: defaultdict[str, set[str]] = defaultdict(set)

    async def save_code(self, key: str, code: AuthorizationCode) -> None:
        """Store a new authorization code."""
        self.codes[key] = code

    async def redeem_code(self, key: str, grant_id: str) -> AuthorizationCode | None:
        """Mark a code redeemed; return the previous record."""
        before = self.codes.get(key)
        if before is not None and before.redeemed_grant_id is None:
            self.codes[key] = dataclasses.replace(before, redeemed_grant_id=grant_id)
        return before

    async def save_grant(self, grant: Grant) -> None:
        """Store a new grant."""
        self.grants[grant.grant_id] = grant

    async def get_grant(self, grant_id: str) -> Grant | None:
        """Return a grant."""
        return self.grants.get(grant_id)

    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and its tokens."""
        grant = self.grants.get(grant_id)
        if grant is not None:
            self.grants[grant_id] = dataclasses.replace(grant, revoked=True)
        for key in self._by_grant.pop(grant_id, set()):
            self.access_tokens.pop(key, None)
            self.refresh_tokens.pop(key, None)

    async def save_access_token(self, key: str, record: AccessTokenRecord) -> None:
        """Store a new access token."""
        self.access_tokens[key] = record
        if record.grant_id:
            self._by_grant[record.grant_id].add(key)

    async def get_access_token(self, key: str) -> AccessTokenRecord | None:
        """Return an access token's record."""
        return self.access_tokens.get(key)

    async def delete_access_token(self, key: str) -> None:
        """Forget an access token."""
        self.access_tokens.pop(key, None)

    async def save_refresh_token(self, key: str, record: RefreshTokenRecord) -> None:
        """Store a new refresh token."""
        self.refresh_tokens[key] = record
        self._by_grant[record.grant_id].add(key)

    async def get_refresh_token(self, key: str) -> RefreshTokenRecord | None:
        """Return a refresh token's record."""
        return self.refresh_tokens.get(key)

    async def rotate_refresh_token(self, key: str) -> RefreshTokenRecord | None:
        """Mark a refresh token rotated; return the previous record."""
        before = self.refresh_tokens.get(key)
        if before is not None and before.state is RefreshState.ACTIVE:
            self.refresh_tokens[key] = dataclasses.replace(before, state=RefreshState.ROTATED)
        return before

    async def delete_refresh_token(self, key: str) -> None:
        """Forget a refresh token."""
        self.refresh_tokens.pop(key, None)

    async def save_device(self, device: DeviceAuthorization) -> None:
        """Store or replace a device authorization."""
        self.devices[device.device_key] = device
        self._device_by_user_code[device.user_code] = device.device_key

    async def get_device(self, device_key: str) -> DeviceAuthorization | None:
        """Return a device authorization by device-code key."""
        return self.devices.get(device_key)

    async def find_device_by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        """Return a device authorization by user code."""
        key = self._device_by_user_code.get(user_code)
        return self.devices.get(key) if key else None


__all__ = ["InMemoryTokenStorage", "TokenStorage"]
