"""Who this client is at the authorization server (SPEC §3 Client identity).

In order: the configured ``clientId``; the Client ID Metadata Document URL
where the server advertises support; a dynamic registration (RFC 7591),
stored per authorization server beside the tokens and reused until the server
rejects it (``invalid_client``) or the redirect URI or grant no longer fits;
else an error naming the setting to provide.

Redirect URI decision: with a fixed callback port (the default 53682) the
registration lists ``http://127.0.0.1:53682/callback``. With port 0 the port
changes on every login, so the registration lists the port-less loopback URI
``http://127.0.0.1/callback``, which RFC 8252 §7.3 requires servers to match
with any port; servers that compare exactly need a fixed port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

from .. import __version__
from ..config import Settings
from ..errors import AuthError, StoreError
from ..log import get_logger, register_secret
from .callback import default_redirect_uri
from .grants import AuthMethod, ClientAuth, choose_auth_method
from .registration import (
    Registration,
    port_agnostic,
    register_client,
    registration_fits,
    registration_metadata,
)
from .server import ServerConfig, client_auth, with_method
from .store import StoreKey, TokenStore, hold

if TYPE_CHECKING:
    from .assertion import AssertionSigner

log = get_logger(__name__)
ClientSource = Literal["configured", "metadata_document", "registered"]
REGISTRATION_KIND = "registration"
_KNOWN_METHODS: tuple[AuthMethod, ...] = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
)


@dataclass(frozen=True)
class ClientIdentity:
    """The client to use and where its id came from."""

    client: ClientAuth
    source: ClientSource


def registration_key(server: ServerConfig) -> StoreKey:
    """The store entry holding the registration made with ``server``."""
    return StoreKey(server.identity, "", "", kind=REGISTRATION_KIND)


def registration_redirect_uri(settings: Settings) -> str:
    """The redirect URI a registration lists (see the module docstring for port 0)."""
    o = settings.oauth2
    if o.redirect_uri:
        return o.redirect_uri
    uri = default_redirect_uri(o.callback_host, o.callback_port)
    return port_agnostic(uri) if o.callback_port == 0 else uri


class IdentityResolver:
    """Finds or creates the client identity for one configuration."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        store: TokenStore,
        signer: AssertionSigner | None = None,
        *,
        allow_registration: bool = True,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._http = http
        self._store = store
        self._signer = signer
        self._allow_registration = allow_registration
        self._wall = wall

    async def resolve(self, server: ServerConfig, *, rejected: str | None = None) -> ClientIdentity:
        """Return the client for ``server``; ``rejected`` names a registered id to replace.

        Raises:
            AuthError: no way to identify the client, or the registration failed.

        """
        o = self._settings.oauth2
        if o.client_id:
            return ClientIdentity(client_auth(self._settings, server, self._signer), "configured")
        if o.client_metadata_url and server.cimd_supported:
            log.info("oauth.client_metadata_document", client_id=o.client_metadata_url)
            method = choose_auth_method(
                o.auth_style,
                has_secret=False,
                advertised=server.auth_methods,
                has_key=self._signer is not None,
            )
            client = with_method(o.client_metadata_url, None, method, self._signer, server)
            return ClientIdentity(client, "metadata_document")
        if not server.registration_endpoint:
            raise AuthError(no_identity_message(self._settings, server), error="no_client")
        return ClientIdentity(await self._registered(server, rejected), "registered")

    async def _registered(self, server: ServerConfig, rejected: str | None) -> ClientAuth:
        key = registration_key(server)
        redirect = registration_redirect_uri(self._settings)
        grant = self._settings.oauth2.grant
        async with hold(self._store, key):  # concurrent first starts register only once
            reg = await self._stored(key)
            if reg is not None and reg.client_id == rejected:
                log.warning("oauth.registration_rejected", client_id=rejected, action="register")
                reg = None
            elif reg is not None and not registration_fits(
                reg, grant=grant, redirect_uri=redirect, now=self._wall()
            ):
                log.info("oauth.registration_outdated", client_id=reg.client_id)
                reg = None
            if reg is None:
                reg = await self._register(server, redirect)
                await self._save(key, reg)
        register_secret(reg.client_secret)
        return self._client_for(reg, server)

    async def _register(self, server: ServerConfig, redirect: str) -> Registration:
        if not self._allow_registration:
            raise AuthError(
                "no client is registered with this authorization server yet; run "
                "`mcp-oauth2-proxy login` first",
                error="not_registered",
            )
        endpoint = server.registration_endpoint or ""
        method = self._wanted_method(server)
        jwks = {"keys": [self._signer.public_jwk()]} if self._signer is not None else None
        metadata = registration_metadata(
            grant=self._settings.oauth2.grant,
            redirect_uri=redirect,
            auth_method=method,
            jwks=jwks if method == "private_key_jwt" else None,
            software_version=__version__,
        )
        return await register_client(self._http, endpoint, metadata)

    def _wanted_method(self, server: ServerConfig) -> AuthMethod:
        """``token_endpoint_auth_method`` to ask for: none unless configured otherwise."""
        o = self._settings.oauth2
        if o.auth_style == "private_key_jwt" or (o.auth_style == "auto" and self._signer):
            return "private_key_jwt"
        if o.auth_style == "header":
            return "client_secret_basic"
        if o.auth_style == "body":
            return "client_secret_post"
        if o.auth_style == "none" or o.grant != "client_credentials":
            return "none"
        # A public client cannot use client credentials: ask for a secret the server accepts.
        advertised = server.auth_methods or ()
        if "client_secret_post" in advertised and "client_secret_basic" not in advertised:
            return "client_secret_post"
        return "client_secret_basic"

    def _client_for(self, reg: Registration, server: ServerConfig) -> ClientAuth:
        configured = self._settings.oauth2.auth_style
        returned = reg.auth_method if reg.auth_method in _KNOWN_METHODS else None
        method: AuthMethod
        if configured == "auto" and returned is not None:
            method = returned
        else:
            method = self._wanted_method(server)
        if method.startswith("client_secret") and not reg.client_secret:
            method = "none"
        return with_method(reg.client_id, reg.client_secret, method, self._signer, server)

    async def _stored(self, key: StoreKey) -> Registration | None:
        try:
            entry = await self._store.load(key)
        except StoreError as exc:
            log.warning("oauth.store_read_failed", error=str(exc))
            return None
        return Registration.from_entry(entry) if entry else None

    async def _save(self, key: StoreKey, reg: Registration) -> None:
        try:
            await self._store.save(key, reg.to_entry())
        except StoreError as exc:
            log.warning("oauth.store_write_failed", error=str(exc), what="registration")


def no_identity_message(settings: Settings, server: ServerConfig) -> str:
    """Explain that no client id can be found, and which setting provides one."""
    where = server.issuer or server.identity
    why = f"the authorization server {where} offers no dynamic client registration"
    if settings.oauth2.client_metadata_url:
        why += " and does not advertise client ID metadata documents (OAUTH2_CLIENT_METADATA_URL)"
    fix = "set OAUTH2_CLIENT_ID (oauth2.clientId) to a client registered with it"
    if server.cimd_supported and not settings.oauth2.client_metadata_url:
        fix = (
            "set OAUTH2_CLIENT_METADATA_URL (oauth2.clientMetadataUrl) to the https URL of your "
            "client metadata document, which it supports, or " + fix
        )
    return f"no OAuth client id: {why}; {fix}"


__all__ = [
    "REGISTRATION_KIND",
    "ClientIdentity",
    "ClientSource",
    "IdentityResolver",
    "no_identity_message",
    "registration_key",
    "registration_redirect_uri",
]
