"""Find the authorization server of an upstream MCP server (MCP authorization, RFC 9728, RFC 8414).

Steps, each a small function: probe the upstream without a token and read its
``WWW-Authenticate``; fetch protected-resource metadata (header URL, path
form, root form) and check its ``resource``; fetch authorization-server
metadata (RFC 8414 path insertion, OpenID insertion, OpenID appending) and
check its ``issuer``; fall back to the 2025-03-26 defaults when a server
publishes no metadata. Every URL a server hands us passes the secure-URL rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import DiscoveryError, InsecureUrlError
from ..log import get_logger
from ..urls import check_secure_url, is_loopback_host, origin, url_host
from .fetch import MAX_METADATA_BYTES, METADATA_TIMEOUT_SECONDS, Fetched, make_request, send_bounded
from .models import AuthorizationServerMetadata, ProtectedResourceMetadata, load_json
from .wellknown import (
    authorization_server_metadata_urls,
    protected_resource_metadata_urls,
    resource_covers,
    same_issuer,
)
from .www_authenticate import BearerChallenge, bearer_challenge, parse_www_authenticate

log = get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)

_PROBE_BODY = b'{"jsonrpc":"2.0","id":"mcp-oauth2-proxy-probe","method":"ping"}'
_SERVER_URL_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
    "device_authorization_endpoint",
)


@dataclass(frozen=True)
class DiscoveryResult:
    """What the upstream and its authorization server told us.

    ``issuer`` is the authorization server's identifier (assumed, not verified,
    when ``server_metadata`` is None: ``legacy`` then says the 2025-03-26
    default endpoints apply under it).
    """

    challenge: BearerChallenge | None = None
    resource_metadata: ProtectedResourceMetadata | None = None
    issuer: str | None = None
    server_metadata: AuthorizationServerMetadata | None = None
    legacy: bool = False


@dataclass(frozen=True)
class DiscoveryOptions:
    """Security and resource limits for discovery."""

    allow_insecure_http: bool = False
    timeout_seconds: float = METADATA_TIMEOUT_SECONDS
    max_bytes: int = MAX_METADATA_BYTES
    loopback_allowed: bool = False
    """Whether discovered URLs may name this machine; :func:`discover` sets it for a loopback
    upstream only, so a remote server can never aim the proxy at local services."""


async def discover(
    http: httpx.AsyncClient,
    upstream_url: str,
    *,
    options: DiscoveryOptions | None = None,
    probe_headers: Mapping[str, str] | None = None,
) -> DiscoveryResult:
    """Run discovery against ``upstream_url``.

    Raises:
        DiscoveryError: a metadata document failed its ``resource`` or
            ``issuer`` check, named an insecure URL, or a server was unreachable.

    """
    opts = options or DiscoveryOptions()
    if is_loopback_host(url_host(upstream_url)):
        opts = dataclasses.replace(opts, loopback_allowed=True)
    challenge = await probe(http, upstream_url, opts, probe_headers or {})
    prm = await fetch_resource_metadata(http, upstream_url, challenge, opts)
    if prm is not None and prm.authorization_servers:
        issuer = secure(prm.authorization_servers[0], opts, "authorization server")
    else:
        issuer = origin(upstream_url)  # 2025-03-26: the server's origin is the authorization base
    metadata = await fetch_server_metadata(http, issuer, opts)
    if metadata is None:
        log.info("oauth.discovery_legacy_fallback", issuer=issuer)
        return DiscoveryResult(challenge, prm, issuer, None, legacy=True)
    log.info(
        "oauth.discovered",
        issuer=metadata.issuer,
        authorization_endpoint=metadata.authorization_endpoint,
        token_endpoint=metadata.token_endpoint,
    )
    return DiscoveryResult(challenge, prm, metadata.issuer, metadata)


async def probe(
    http: httpx.AsyncClient, upstream_url: str, opts: DiscoveryOptions, headers: Mapping[str, str]
) -> BearerChallenge | None:
    """POST a harmless ``ping`` without a token; return the 401's Bearer challenge."""
    request = make_request(
        "POST",
        upstream_url,
        headers={
            **headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
        content=_PROBE_BODY,
        timeout=opts.timeout_seconds,
    )
    fetched = await _send(http, request, opts, "the upstream MCP server")
    if fetched.status != 401:
        log.debug("oauth.discovery_probe", status=fetched.status)
        return None
    challenge = bearer_challenge(
        parse_www_authenticate(fetched.headers.get_list("www-authenticate"))
    )
    log.debug(
        "oauth.discovery_probe",
        status=401,
        resource_metadata=challenge.resource_metadata if challenge else None,
        scope=challenge.scope if challenge else None,
    )
    return challenge


async def fetch_resource_metadata(
    http: httpx.AsyncClient,
    upstream_url: str,
    challenge: BearerChallenge | None,
    opts: DiscoveryOptions,
) -> ProtectedResourceMetadata | None:
    """RFC 9728 metadata from the first candidate URL that has it, ``resource`` checked."""
    header_url = challenge.resource_metadata if challenge else None
    if header_url:
        secure(header_url, opts, "resource_metadata URL")
    for url in protected_resource_metadata_urls(upstream_url, header_url):
        doc = await _fetch_document(http, url, ProtectedResourceMetadata, opts)
        if doc is None:
            continue
        if not resource_covers(doc.resource, upstream_url):
            raise DiscoveryError(
                f"the protected-resource metadata at {url} is for {doc.resource!r}, which does not "
                f"cover {upstream_url!r}; refusing to use it",
                url=url,
            )
        log.debug("oauth.discovery_resource_metadata", url=url, resource=doc.resource)
        return doc
    return None


async def fetch_server_metadata(
    http: httpx.AsyncClient, issuer: str, opts: DiscoveryOptions
) -> AuthorizationServerMetadata | None:
    """RFC 8414 / OpenID metadata for ``issuer``, ``issuer`` and every endpoint checked."""
    for url in authorization_server_metadata_urls(issuer):
        doc = await _fetch_document(http, url, AuthorizationServerMetadata, opts)
        if doc is None:
            continue
        if not same_issuer(issuer, doc.issuer):
            raise DiscoveryError(
                f"the authorization-server metadata at {url} names issuer {doc.issuer!r}, expected "
                f"{issuer!r}; refusing to use it (RFC 8414 §3.3)",
                url=url,
            )
        for field in _SERVER_URL_FIELDS:
            value = getattr(doc, field)
            if value is not None:
                secure(value, opts, field)
        return doc
    return None


def secure(url: str, opts: DiscoveryOptions, what: str) -> str:
    """Apply the secure-URL rule to a discovered URL, as a discovery failure.

    A loopback URL is acceptable only from a loopback upstream: otherwise a
    remote server could make the proxy send requests (and, through a token
    endpoint, credentials) to services listening on this machine.
    """
    try:
        check_secure_url(url, allow_insecure_http=opts.allow_insecure_http, what=what)
    except InsecureUrlError as exc:
        raise DiscoveryError(f"discovery returned an unacceptable URL: {exc}", url=url) from None
    if not opts.loopback_allowed and is_loopback_host(url_host(url)):
        raise DiscoveryError(
            f"discovery returned an unacceptable URL: {what} {url!r} points at this machine, "
            "but the upstream is remote; refusing to follow it",
            url=url,
        )
    return url


async def _fetch_document(
    http: httpx.AsyncClient, url: str, model: type[_M], opts: DiscoveryOptions
) -> _M | None:
    request = make_request(
        "GET", url, headers={"Accept": "application/json"}, timeout=opts.timeout_seconds
    )
    fetched = await _send(http, request, opts, url)
    if fetched.status != 200:
        log.debug("oauth.discovery_miss", url=url, status=fetched.status)
        return None
    try:
        return model.model_validate(load_json(fetched.body))
    except (ValueError, ValidationError):
        log.warning("oauth.discovery_bad_document", url=url)
        return None


async def _send(
    http: httpx.AsyncClient, request: httpx.Request, opts: DiscoveryOptions, what: str
) -> Fetched:
    try:
        return await send_bounded(
            http, request, max_bytes=opts.max_bytes, deadline=opts.timeout_seconds * 2
        )
    except httpx.HTTPError as exc:
        raise DiscoveryError(
            f"discovery could not reach {what}: {type(exc).__name__}: {exc}", url=str(request.url)
        ) from exc


__all__ = [
    "DiscoveryOptions",
    "DiscoveryResult",
    "discover",
    "fetch_resource_metadata",
    "fetch_server_metadata",
    "probe",
    "secure",
]
