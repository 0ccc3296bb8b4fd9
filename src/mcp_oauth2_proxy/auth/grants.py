"""OAuth 2 requests and responses as pure functions (RFC 6749, 7636, 8707, 9207).

Builders return :class:`httpx.Request` objects or URLs without sending
anything; parsers take status, headers and bytes. The I/O shell in
:mod:`.client` sends what these build.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from ..errors import AuthError
from .models import TokenErrorResponse, TokenResponse, load_json, server_text
from .pkce import Pkce, same_secret

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
#: RFC 7523 §2.2: the ``client_assertion_type`` of a JWT bearer client assertion.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: RFC 8628 §3.4: the ``grant_type`` of a device access token request.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
AuthStyle = Literal["auto", "body", "header", "private_key_jwt", "none"]

#: Parameters ``extraParams`` may never set: they carry the protocol's security.
PROTOCOL_PARAMS = frozenset(
    {
        "grant_type",
        "code",
        "state",
        "code_verifier",
        "redirect_uri",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "refresh_token",
        "code_challenge",
        "code_challenge_method",
        "response_type",
        "resource",
        "device_code",
        "token",
        "token_type_hint",
    }
)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class ClientAuth:
    """The client's identity at the token endpoint and how it proves it (RFC 6749 §2.3).

    ``assertion`` returns a fresh signed JWT for ``private_key_jwt`` (RFC 7523);
    it is called once per request so every assertion has its own ``jti``.
    """

    client_id: str
    client_secret: str | None = None
    method: AuthMethod = "none"
    assertion: Callable[[], str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TokenSet:
    """Tokens from one token response; ``expires_at`` is absolute on the manager's clock."""

    access_token: str
    expires_at: float | None = None
    refresh_token: str | None = None
    scope: str | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class RequestOptions:
    """Parameters shared by the authorize and token requests of one configuration."""

    scope: str | None = None
    resource: str | None = None
    audience: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    prompt: str | None = None  # authorization requests only


# ---------------------------------------------------------------- client authentication


def choose_auth_method(
    style: AuthStyle,
    *,
    has_secret: bool,
    advertised: Iterable[str] | None,
    has_key: bool = False,
) -> AuthMethod:
    """Pick the token-endpoint authentication method for ``style`` (SPEC §1 ``authStyle``).

    ``auto`` takes the best method the server advertises (basic, then post,
    then none) and falls back to ``body``. A client with neither secret nor
    assertion key is a public client (``none``); one with only a key signs
    assertions (``private_key_jwt``).

    Raises:
        AuthError: ``private_key_jwt`` without a key to sign with.

    """
    if style == "private_key_jwt" or (style == "auto" and has_key and not has_secret):
        return _assertion_method(has_key=has_key)
    if not has_secret or style == "none":
        return "none"
    if style == "header":
        return "client_secret_basic"
    if style == "body":
        return "client_secret_post"
    methods = tuple(advertised or ())
    order: tuple[AuthMethod, ...] = ("client_secret_basic", "client_secret_post", "none")
    for method in order:
        if method in methods:
            return method
    return "client_secret_post"


def _assertion_method(*, has_key: bool) -> AuthMethod:
    if not has_key:
        raise AuthError(
            "oauth2.authStyle=private_key_jwt needs a signing key: set "
            "OAUTH2_CLIENT_ASSERTION_KEY_FILE (or OAUTH2_CLIENT_ASSERTION_KEY)"
        )
    return "private_key_jwt"


def basic_credentials(client_id: str, client_secret: str) -> str:
    """Return the client_secret_basic header value; id and secret form-encoded first (§2.3.1)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _client_params(client: ClientAuth) -> tuple[list[tuple[str, str]], dict[str, str]]:
    if client.method == "client_secret_basic" and client.client_secret is not None:
        return [], {"Authorization": basic_credentials(client.client_id, client.client_secret)}
    form = [("client_id", client.client_id)]
    if client.method == "private_key_jwt" and client.assertion is not None:
        form += [
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", client.assertion()),
        ]
    if client.method == "client_secret_post" and client.client_secret is not None:
        form.append(("client_secret", client.client_secret))
    return form, {}


# ---------------------------------------------------------------- parameters


def split_extra_params(extra: Mapping[str, str]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """Separate usable extra parameters from those that would override the protocol."""
    kept = tuple((k, v) for k, v in extra.items() if k.lower() not in PROTOCOL_PARAMS)
    dropped = [k for k in extra if k.lower() in PROTOCOL_PARAMS]
    return kept, dropped


def _with_extras(
    params: list[tuple[str, str]], extra: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Append extras whose names neither the protocol nor this request already use."""
    taken = {k for k, _ in params} | PROTOCOL_PARAMS
    return params + [(k, v) for k, v in extra if k not in taken and k.lower() not in taken]


def _optional(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if v]


def select_scope(
    *,
    configured: str | None,
    challenge: str | None,
    resource_scopes: Iterable[str] = (),
    server_scopes: Iterable[str] = (),
    offline_access: bool = False,
) -> str | None:
    """Choose the scope to request (MCP authorization: scope selection).

    The configured value wins as given. Otherwise the 401's ``scope``, else
    the resource's ``scopes_supported``, else none; ``offline_access`` is
    added only when asked for and the authorization server lists it.
    """
    if configured:
        return configured
    chosen = (challenge or "").split() or list(resource_scopes)
    if offline_access and "offline_access" in set(server_scopes) and "offline_access" not in chosen:
        chosen.append("offline_access")
    return " ".join(chosen) or None


# ---------------------------------------------------------------- authorization request


def build_authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    pkce: Pkce,
    options: RequestOptions,
) -> str:
    """Return the authorization request URL (RFC 6749 §4.1.1 + RFC 7636 §4.3 + RFC 8707).

    Query parameters already in ``endpoint`` are kept unless the request sets
    them itself.
    """
    ours = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("code_challenge", pkce.challenge),
        ("code_challenge_method", pkce.method),
        *_optional(
            [
                ("scope", options.scope),
                ("resource", options.resource),
                ("audience", options.audience),
                ("prompt", options.prompt),
            ]
        ),
    ]
    ours = _with_extras(ours, options.extra)
    parts = urlsplit(endpoint)
    names = {k for k, _ in ours}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    query = urlencode(kept + ours, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass(frozen=True)
class AuthorizationResponse:
    """The useful part of a redirect back to the client (RFC 6749 §4.1.2)."""

    code: str


def check_authorization_response(
    params: Mapping[str, str],
    *,
    expected_state: str,
    issuer: str | None,
    iss_required: bool,
) -> AuthorizationResponse:
    """Validate a callback's query parameters; return the code.

    ``state`` must match (constant time). RFC 9207: when the server advertises
    ``iss`` support it must be present; when present it must equal the issuer.

    Raises:
        StateMismatchError: missing or wrong ``state`` (stale tab or forgery).
        AuthError: the server reported an error, ``iss`` failed, or no code.

    """
    if not same_secret(expected_state, params.get("state")):
        raise StateMismatchError("the login response does not belong to this login attempt")
    iss = params.get("iss")
    if iss is not None and issuer is not None and iss != issuer:
        raise AuthError(
            f"the login response came from issuer {iss!r}, expected {issuer!r} (RFC 9207)",
            error="invalid_issuer",
        )
    if iss is None and iss_required:
        raise AuthError("the login response lacks the iss parameter the server promised (RFC 9207)")
    if "error" in params:
        error = server_text(params["error"], 64)
        desc = server_text(params["error_description"]) if params.get("error_description") else None
        raise AuthError(
            f"the authorization server refused the login: {error}" + (f" ({desc})" if desc else ""),
            error=error,
            error_description=desc,
        )
    code = params.get("code")
    if not code:
        raise AuthError("the login response carries no authorization code")
    return AuthorizationResponse(code)


class StateMismatchError(AuthError):
    """A callback whose ``state`` does not match the login in progress."""


# ---------------------------------------------------------------- token requests


def build_token_request(
    token_url: str,
    params: list[tuple[str, str]],
    client: ClientAuth,
    extra: Iterable[tuple[str, str]] = (),
) -> httpx.Request:
    """Return the POST to the token endpoint for ``params`` plus client authentication."""
    auth_form, headers = _client_params(client)
    form = _with_extras(params + auth_form, extra)
    headers |= {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"}
    return httpx.Request(
        "POST", token_url, content=urlencode(form).encode("ascii"), headers=headers
    )


def authorization_code_params(
    code: str, *, redirect_uri: str, code_verifier: str | None, resource: str | None
) -> list[tuple[str, str]]:
    """RFC 6749 §4.1.3 + RFC 7636 §4.5 + RFC 8707 §2.2 parameters."""
    return [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        *_optional([("code_verifier", code_verifier), ("resource", resource)]),
    ]


def refresh_params(refresh_token: str, *, resource: str | None) -> list[tuple[str, str]]:
    """RFC 6749 §6 parameters; the scope is left out so the grant's scope is kept."""
    return [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        *_optional([("resource", resource)]),
    ]


def device_code_params(device_code: str) -> list[tuple[str, str]]:
    """RFC 8628 §3.4 device access token request parameters."""
    return [("grant_type", DEVICE_CODE_GRANT), ("device_code", device_code)]


def device_authorization_params(options: RequestOptions) -> list[tuple[str, str]]:
    """RFC 8628 §3.1 device authorization request parameters (plus RFC 8707 ``resource``)."""
    return _optional(
        [("scope", options.scope), ("audience", options.audience), ("resource", options.resource)]
    )


def revocation_params(token: str, *, hint: str = "refresh_token") -> list[tuple[str, str]]:
    """RFC 7009 §2.1 revocation request parameters."""
    return [("token", token), ("token_type_hint", hint)]


def client_credentials_params(options: RequestOptions) -> list[tuple[str, str]]:
    """RFC 6749 §4.4.2 parameters plus ``audience`` and ``resource``."""
    return [
        ("grant_type", "client_credentials"),
        *_optional(
            [
                ("scope", options.scope),
                ("audience", options.audience),
                ("resource", options.resource),
            ]
        ),
    ]


# ---------------------------------------------------------------- token responses


def parse_token_response(
    status: int, content_type: str | None, body: bytes, *, now: float, url: str | None = None
) -> TokenSet:
    """Parse a token endpoint answer (RFC 6749 §5.1/§5.2) into a :class:`TokenSet`.

    Raises:
        AuthError: carrying the server's ``error``/``error_description`` for
            an error response, or a short reason for an unusable one.

    """
    data = _decode_body(content_type, body)
    if status != 200 or "error" in data:
        raise _token_error(status, data, url)
    try:
        parsed = TokenResponse.model_validate(data)
    except ValidationError as exc:
        raise AuthError(
            f"the token endpoint answered without a usable access_token ({exc.error_count()} "
            "problem(s))",
            url=url,
        ) from None
    if parsed.token_type is not None and parsed.token_type.lower() != "bearer":
        raise AuthError(
            f"the token endpoint issued a {parsed.token_type!r} token; only Bearer is supported",
            url=url,
        )
    expires_at = None if parsed.expires_in is None else now + parsed.expires_in
    return TokenSet(
        access_token=parsed.access_token,
        expires_at=expires_at,
        refresh_token=parsed.refresh_token or None,
        scope=parsed.scope,
        id_token=parsed.id_token,
    )


def _decode_body(content_type: str | None, body: bytes) -> dict[str, object]:
    text = body.decode("utf-8", "replace")
    if (content_type or "").lower().startswith(FORM_CONTENT_TYPE):
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        data = load_json(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _token_error(status: int, data: Mapping[str, object], url: str | None) -> AuthError:
    try:
        err = TokenErrorResponse.model_validate(data)
    except ValidationError:
        return AuthError(
            f"the token endpoint answered HTTP {status} without an OAuth error", url=url
        )
    error = server_text(err.error, 64)
    description = server_text(err.error_description) if err.error_description else None
    desc = f" ({description})" if description else ""
    return AuthError(
        f"the token endpoint refused the request: {error}{desc}",
        error=error,
        error_description=description,
        url=url,
    )


__all__ = [
    "DEVICE_CODE_GRANT",
    "FORM_CONTENT_TYPE",
    "JWT_BEARER_ASSERTION",
    "PROTOCOL_PARAMS",
    "AuthMethod",
    "AuthStyle",
    "AuthorizationResponse",
    "ClientAuth",
    "RequestOptions",
    "StateMismatchError",
    "TokenSet",
    "authorization_code_params",
    "basic_credentials",
    "build_authorization_url",
    "build_token_request",
    "check_authorization_response",
    "choose_auth_method",
    "client_credentials_params",
    "device_authorization_params",
    "device_code_params",
    "parse_token_response",
    "refresh_params",
    "revocation_params",
    "select_scope",
    "split_extra_params",
]
