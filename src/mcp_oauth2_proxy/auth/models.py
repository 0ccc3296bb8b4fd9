"""Wire models for the OAuth documents the proxy reads: the trust boundary.

Field names are the RFCs' own. Unknown members are ignored (servers add
extensions); known members are type-checked so that nothing downstream has to
second-guess a server's JSON.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _int_from_text(value: object) -> object:
    """Accept ``"3600"`` as well as ``3600``: several providers send strings."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Seconds = Annotated[int, BeforeValidator(_int_from_text), Field(ge=0)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProtectedResourceMetadata(_Wire):
    """RFC 9728 §2: OAuth 2.0 protected-resource metadata."""

    resource: str
    authorization_servers: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    bearer_methods_supported: tuple[str, ...] = ()
    resource_name: str | None = None


class AuthorizationServerMetadata(_Wire):
    """RFC 8414 §2 (and OpenID Connect Discovery): authorization-server metadata."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    registration_endpoint: str | None = None
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    scopes_supported: tuple[str, ...] = ()
    response_types_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    authorization_response_iss_parameter_supported: bool = False
    client_id_metadata_document_supported: bool = False
    # OpenID Connect Discovery: a provider that publishes these is an OpenID provider.
    id_token_signing_alg_values_supported: tuple[str, ...] | None = None
    prompt_values_supported: tuple[str, ...] | None = None


class TokenResponse(_Wire):
    """RFC 6749 §5.1: a successful token response."""

    access_token: str = Field(min_length=1)
    token_type: str | None = None
    expires_in: Seconds | None = None
    refresh_token: str | None = None
    scope: str | None = None
    id_token: str | None = None


class ClientRegistrationResponse(_Wire):
    """RFC 7591 §3.2.1: a client information response."""

    client_id: str = Field(min_length=1)
    client_secret: str | None = None
    client_secret_expires_at: int | None = None
    token_endpoint_auth_method: str | None = None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()


class DeviceAuthorizationResponse(_Wire):
    """RFC 8628 §3.2: a device authorization response."""

    device_code: str = Field(min_length=1)
    user_code: str = Field(min_length=1)
    # Some providers (Google) spell it ``verification_url``.
    verification_uri: str = Field(
        min_length=1, validation_alias=AliasChoices("verification_uri", "verification_url")
    )
    verification_uri_complete: str | None = None
    expires_in: Seconds
    interval: Seconds | None = None


class TokenErrorResponse(_Wire):
    """RFC 6749 §5.2: an error response from the token endpoint."""

    error: str
    error_description: str | None = None
    error_uri: str | None = None


__all__ = [
    "AuthorizationServerMetadata",
    "ClientRegistrationResponse",
    "DeviceAuthorizationResponse",
    "ProtectedResourceMetadata",
    "TokenErrorResponse",
    "TokenResponse",
]
