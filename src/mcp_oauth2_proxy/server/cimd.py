"""Client ID Metadata Documents: an ``https`` client_id names the client's own metadata.

The server fetches the document through an injectable :class:`MetadataFetcher`,
checks the URL and the document (draft-ietf-oauth-client-id-metadata-document,
MCP authorization 2025-11-25), and turns it into a :class:`RegisteredClient`
that is cached for a while.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from .clients import check_client_metadata, check_jwks
from .clock import Clock
from .http import OAuthProtocolError, split_scope
from .models import PRIVATE_KEY_JWT, PUBLIC_AUTH_METHOD, SECRET_AUTH_METHODS, RegisteredClient

MAX_DOCUMENT_BYTES = 5 * 1024
_FORBIDDEN_FIELDS = ("client_secret", "client_secret_expires_at")


class MetadataFetcher(Protocol):
    """Fetches a client's metadata document."""

    async def fetch(self, url: str) -> Mapping[str, Any]:
        """Return the parsed JSON document at ``url`` or raise ``invalid_client``."""
        ...


class HttpxMetadataFetcher:
    """Fetch documents with an injected ``httpx.AsyncClient`` (no redirects, size-capped)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def fetch(self, url: str) -> Mapping[str, Any]:
        """GET ``url`` and parse its JSON object."""
        try:
            response = await self._client.get(
                url, headers={"Accept": "application/json"}, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            raise _invalid_client("client metadata unreachable") from exc
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise _invalid_client("client metadata document unusable")
        return parse_document(response.content)


class StaticMetadataFetcher:
    """Serve documents from a dictionary (tests and offline demos)."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.documents: dict[str, Mapping[str, Any]] = dict(documents or {})
        self.fetched: list[str] = []

    async def fetch(self, url: str) -> Mapping[str, Any]:
        """Return the stored document or raise ``invalid_client``."""
        self.fetched.append(url)
        if url not in self.documents:
            raise _invalid_client("client metadata document not found")
        return self.documents[url]


def _invalid_client(description: str | None) -> OAuthProtocolError:
    return OAuthProtocolError("invalid_client", description, status=401)


def parse_document(raw: bytes) -> Mapping[str, Any]:
    """Parse a metadata document body; it must be a JSON object."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise _invalid_client("client metadata is not JSON") from exc
    if not isinstance(document, dict):
        raise _invalid_client("client metadata is not a JSON object")
    return document


def is_metadata_client_id(client_id: str) -> bool:
    """True when ``client_id`` is meant as a metadata document URL."""
    return client_id.lower().startswith("https://")


def check_metadata_url(url: str) -> None:
    """Raise ``invalid_client`` unless ``url`` is a valid client-id URL.

    https, a path other than ``/``, no fragment, no credentials, no dot segments.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _invalid_client("client_id is not a URL") from exc
    segments = parts.path.split("/")
    problems = [
        parts.scheme != "https",
        not parts.hostname,
        parts.path in ("", "/"),
        bool(parts.fragment) or "#" in url,
        parts.username is not None or parts.password is not None,
        "." in segments or ".." in segments,
    ]
    if any(problems):
        raise _invalid_client("client_id is not a valid metadata URL")


def client_from_document(url: str, document: Mapping[str, Any]) -> RegisteredClient:
    """Validate ``document`` fetched from ``url`` and return the client it describes."""
    if document.get("client_id") != url:
        raise _invalid_client("metadata client_id does not match its URL")
    if any(name in document for name in _FORBIDDEN_FIELDS):
        raise _invalid_client("metadata documents must not carry secrets")
    metadata = dict(document)
    metadata.setdefault("token_endpoint_auth_method", PUBLIC_AUTH_METHOD)
    try:
        redirect_uris, grant_types, method = check_client_metadata(
            metadata, auth_methods=(PUBLIC_AUTH_METHOD, PRIVATE_KEY_JWT)
        )
    except OAuthProtocolError as exc:
        raise _invalid_client(exc.description) from exc
    assert method not in SECRET_AUTH_METHODS  # noqa: S101 - guaranteed by auth_methods above
    scope = metadata.get("scope")
    return RegisteredClient(
        client_id=url,
        redirect_uris=tuple(redirect_uris),
        grant_types=frozenset(grant_types),
        token_endpoint_auth_method=method,
        jwks=check_jwks(metadata.get("jwks")) if method == PRIVATE_KEY_JWT else None,
        client_name=metadata.get("client_name")
        if isinstance(metadata.get("client_name"), str)
        else None,
        scope=split_scope(scope) if isinstance(scope, str) else None,
        from_metadata_document=True,
        metadata=metadata,
    )


class MetadataDocumentResolver:
    """Fetch, validate and cache clients identified by metadata URLs."""

    def __init__(
        self, fetcher: MetadataFetcher, clock: Clock, *, cache_seconds: float = 300
    ) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, RegisteredClient]] = {}

    async def resolve(self, url: str) -> RegisteredClient:
        """Return the client described at ``url`` (raises ``invalid_client``)."""
        check_metadata_url(url)
        cached = self._cache.get(url)
        if cached and cached[0] > self._clock.now():
            return cached[1]
        client = client_from_document(url, await self._fetcher.fetch(url))
        self._cache[url] = (self._clock.now() + self._cache_seconds, client)
        return client


__all__ = [
    "HttpxMetadataFetcher",
    "MetadataDocumentResolver",
    "MetadataFetcher",
    "StaticMetadataFetcher",
    "check_metadata_url",
    "client_from_document",
    "is_metadata_client_id",
    "parse_document",
]
