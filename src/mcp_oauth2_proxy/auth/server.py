"""Merge configuration and discovery into the endpoints and parameters to use (pure).

Explicit configuration always wins over anything discovered (SPEC §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import AuthError
from .discovery import DiscoveryResult
from .grants import (
    AuthMethod,
    ClientAuth,
    RequestOptions,
    choose_auth_method,
    select_scope,
    split_extra_params,
)
from .wellknown import canonical_resource_uri, legacy_endpoints

if TYPE_CHECKING:
    from .assertion import AssertionSigner
    from .models import AuthorizationServerMetadata


@dataclass(frozen=True)
class ServerConfig:
    """The authorization server as this run will use it.

    ``issuer`` is set only when verified metadata named it; ``response_issuer``
    is the value RFC 9207 checks the authorization response against (None when
    the authorization endpoint is not that server's); ``identity`` names the
    server for storage either way.
    """

    identity: str
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    registration_endpoint: str | None
    resource: str
    scope: str | None
    auth_methods: tuple[str, ...] | None = None
    pkce_methods: tuple[str, ...] | None = None
    response_issuer: str | None = None
    iss_supported: bool = False
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    cimd_supported: bool = False
    openid_consent_for_offline: bool = False

    @property
    def assertion_audience(self) -> str:
        """The ``aud`` of client assertions: the issuer, else the token endpoint (RFC 7523 §3)."""
        return self.issuer or self.token_endpoint or self.identity


def resolve_server(settings: Settings, found: DiscoveryResult | None) -> ServerConfig:
    """Combine ``settings`` with ``found`` (None when discovery is off or failed)."""
    o = settings.oauth2
    meta = found.server_metadata if found else None
    prm = found.resource_metadata if found else None
    legacy = legacy_endpoints(found.issuer) if found and found.legacy and found.issuer else {}
    authorize = o.authorization_url or (meta.authorization_endpoint if meta else None)
    token = o.token_url or (meta.token_endpoint if meta else None)
    register = meta.registration_endpoint if meta else None
    device = o.device_authorization_url or (meta.device_authorization_endpoint if meta else None)
    authorize = authorize or legacy.get("authorization_endpoint")
    token = token or legacy.get("token_endpoint")
    register = register or legacy.get("registration_endpoint")
    resource = (
        o.resource
        or (prm.resource if prm else None)
        or canonical_resource_uri(settings.upstream.url)
    )
    scope = select_scope(
        configured=o.scope,
        challenge=found.challenge.scope if found and found.challenge else None,
        resource_scopes=prm.scopes_supported if prm else (),
        server_scopes=meta.scopes_supported if meta else (),
        offline_access=o.grant == "authorization_code",
    )
    issuer = meta.issuer if meta else None
    # RFC 9207 can only vouch for responses from the discovered server's own endpoint.
    checked = meta is not None and authorize == meta.authorization_endpoint
    return ServerConfig(
        # A configured token URL names the server even when discovery fails on some
        # runs, so the stored entry is found again.
        identity=o.token_url or issuer or token or settings.upstream.url,
        issuer=issuer,
        authorization_endpoint=authorize,
        token_endpoint=token,
        registration_endpoint=register,
        resource=resource,
        scope=scope,
        auth_methods=meta.token_endpoint_auth_methods_supported if meta else None,
        pkce_methods=meta.code_challenge_methods_supported if meta else None,
        response_issuer=issuer if checked else None,
        iss_supported=checked
        and bool(meta and meta.authorization_response_iss_parameter_supported),
        device_authorization_endpoint=device,
        revocation_endpoint=meta.revocation_endpoint if meta else None,
        cimd_supported=bool(meta and meta.client_id_metadata_document_supported),
        openid_consent_for_offline=meta is not None and wants_consent_for_offline(meta),
    )


def wants_consent_for_offline(meta: AuthorizationServerMetadata) -> bool:
    """Tell whether this server grants ``offline_access`` only with ``prompt=consent``.

    OpenID Connect Core §11 makes an OpenID provider ignore ``offline_access``
    (and so issue no refresh token) unless the request carries ``prompt=consent``;
    a provider is recognised by the signing algorithms OpenID Discovery requires
    it to publish, and one that lists its prompt values must list ``consent``.
    """
    if meta.id_token_signing_alg_values_supported is None:
        return False
    prompts = meta.prompt_values_supported
    return prompts is None or "consent" in prompts


def client_auth(
    settings: Settings,
    server: ServerConfig,
    signer: AssertionSigner | None = None,
    client_id: str | None = None,
) -> ClientAuth:
    """Return the client (the configured one unless ``client_id`` is given) and its method.

    Raises:
        AuthError: no client id, or ``private_key_jwt`` without a key.

    """
    o = settings.oauth2
    cid = client_id or o.client_id
    if not cid:
        raise AuthError("no OAuth client id: set OAUTH2_CLIENT_ID (oauth2.clientId)")
    secret = o.client_secret.get_secret_value() if o.client_secret else None
    method = choose_auth_method(
        o.auth_style,
        has_secret=secret is not None,
        advertised=server.auth_methods,
        has_key=signer is not None,
    )
    return with_method(cid, secret, method, signer, server)


def with_method(
    client_id: str,
    secret: str | None,
    method: AuthMethod,
    signer: AssertionSigner | None,
    server: ServerConfig,
) -> ClientAuth:
    """Build a :class:`ClientAuth`, binding the signer for ``private_key_jwt``."""
    if method == "private_key_jwt":
        if signer is None:
            raise AuthError(
                f"client {client_id!r} must authenticate with private_key_jwt: set "
                "OAUTH2_CLIENT_ASSERTION_KEY_FILE (or OAUTH2_CLIENT_ASSERTION_KEY)"
            )
        return ClientAuth(
            client_id, None, method, signer.bind(client_id, server.assertion_audience)
        )
    return ClientAuth(client_id, secret, method)


def request_options(settings: Settings, server: ServerConfig) -> RequestOptions:
    """Return scope, resource, audience and the usable extra parameters."""
    extra, _ = split_extra_params(settings.oauth2.extra_params)
    offline = "offline_access" in (server.scope or "").split()
    own_prompt = any(name == "prompt" for name, _ in extra)  # the user's prompt wins
    return RequestOptions(
        scope=server.scope,
        resource=server.resource,
        audience=settings.oauth2.audience,
        extra=extra,
        prompt="consent"
        if offline and server.openid_consent_for_offline and not own_prompt
        else None,
    )


def require_token_endpoint(server: ServerConfig) -> str:
    """Return the token endpoint, or raise an error saying how to provide one."""
    if not server.token_endpoint:
        raise AuthError(
            "no token endpoint: set OAUTH2_TOKEN_URL (oauth2.tokenUrl) or enable discovery"
        )
    return server.token_endpoint


__all__ = [
    "ServerConfig",
    "client_auth",
    "request_options",
    "require_token_endpoint",
    "resolve_server",
    "with_method",
]
