"""Well-known metadata URLs and resource identifiers: pure functions over strings.

RFC 9728 §3.1 inserts ``/.well-known/oauth-protected-resource`` between the
host and the path of the resource; RFC 8414 §3.1 does the same for
``oauth-authorization-server``; OpenID Connect Discovery appends
``/.well-known/openid-configuration`` to the issuer. The MCP authorization spec
orders them; this module only builds the lists.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..urls import origin

PROTECTED_RESOURCE = "/.well-known/oauth-protected-resource"
AUTHORIZATION_SERVER = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"


def _path(url: str) -> str:
    """Return the path of ``url`` without a trailing slash ("" for the root)."""
    return urlsplit(url).path.rstrip("/")


def protected_resource_metadata_urls(resource_url: str, header_url: str | None = None) -> list[str]:
    """Candidate URLs for protected-resource metadata, in the order to try (RFC 9728 §3.1).

    The ``resource_metadata`` URL from a ``WWW-Authenticate`` challenge comes
    first, then the path-inserted form, then the root form.
    """
    base = origin(resource_url)
    path = _path(resource_url)
    urls = [header_url] if header_url else []
    if path:
        urls.append(f"{base}{PROTECTED_RESOURCE}{path}")
    urls.append(f"{base}{PROTECTED_RESOURCE}")
    return list(dict.fromkeys(urls))


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """Candidate URLs for authorization-server metadata (RFC 8414 §3.1, MCP order).

    For an issuer with a path: OAuth path insertion, OpenID path insertion,
    OpenID path appending. For an issuer without a path: the two root forms.
    """
    base = origin(issuer)
    path = _path(issuer)
    if not path:
        return [f"{base}{AUTHORIZATION_SERVER}", f"{base}{OPENID_CONFIGURATION}"]
    return [
        f"{base}{AUTHORIZATION_SERVER}{path}",
        f"{base}{OPENID_CONFIGURATION}{path}",
        f"{base}{path}{OPENID_CONFIGURATION}",
    ]


def canonical_resource_uri(url: str) -> str:
    """Return the MCP canonical server URI: lower-case scheme and host, no query or fragment.

    A trailing slash is dropped unless the path is only ``/``, which the MCP
    authorization spec allows clients to normalise away as well.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), _authority(url), path, "", ""))


def _authority(url: str) -> str:
    return origin(url).split("://", 1)[1]


def resource_covers(resource: str, upstream: str) -> bool:
    """Tell whether ``resource`` has the upstream's origin and a path prefix of the upstream's.

    Prefixes count only at segment boundaries: ``/mcp`` covers ``/mcp/v1`` but
    not ``/mcpx``.
    """
    try:
        if origin(resource) != origin(upstream):
            return False
    except ValueError:
        return False
    prefix = _path(resource)
    path = _path(upstream)
    return path == prefix or path.startswith(prefix + "/")


def same_issuer(expected: str, actual: str) -> bool:
    """RFC 8414 §3.3 issuer comparison; a lone trailing slash is not a difference."""
    return expected.rstrip("/") == actual.rstrip("/")


def legacy_endpoints(server_url: str) -> dict[str, str]:
    """Return the 2025-03-26 default endpoints for a server without metadata (at its origin)."""
    base = origin(server_url)
    return {
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "registration_endpoint": f"{base}/register",
    }


__all__ = [
    "AUTHORIZATION_SERVER",
    "OPENID_CONFIGURATION",
    "PROTECTED_RESOURCE",
    "authorization_server_metadata_urls",
    "canonical_resource_uri",
    "legacy_endpoints",
    "protected_resource_metadata_urls",
    "resource_covers",
    "same_issuer",
]
