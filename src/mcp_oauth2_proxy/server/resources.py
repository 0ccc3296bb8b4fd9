"""RFC 8707 resource indicators: validation and the canonical form used for comparison."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..urls import origin
from .http import OAuthProtocolError


def canonical_resource(uri: str) -> str:
    """Return ``uri`` with scheme and host lower-cased, default port and trailing slash dropped.

    ``https://MCP.example.com:443/mcp/`` and ``https://mcp.example.com/mcp`` name
    the same resource (MCP authorization, canonical server URI).
    """
    parts = urlsplit(uri)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return origin(uri) + path + query


def check_resource(uri: str, allowed: Iterable[str]) -> str:
    """Return ``uri`` when it is a usable resource indicator, else raise ``invalid_target``.

    It must be an absolute URI without a fragment (RFC 8707 §2) and, when the
    server lists its resources, one of them.
    """
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise OAuthProtocolError("invalid_target", "resource is not a URI") from exc
    if not parts.scheme or not parts.netloc or parts.fragment or "#" in uri:
        raise OAuthProtocolError("invalid_target", "resource must be an absolute URI")
    allowed_set = {canonical_resource(a) for a in allowed}
    if allowed_set and canonical_resource(uri) not in allowed_set:
        raise OAuthProtocolError("invalid_target", "this server issues no tokens for that resource")
    return uri


def resource_in(uri: str, resources: Iterable[str]) -> bool:
    """True when ``uri`` names one of ``resources`` (canonical comparison)."""
    wanted = canonical_resource(uri)
    return any(canonical_resource(r) == wanted for r in resources)


__all__ = ["canonical_resource", "check_resource", "resource_in"]
