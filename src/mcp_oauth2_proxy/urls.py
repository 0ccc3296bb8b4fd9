"""The secure-URL rule, shared by configuration, discovery and the bridge.

Pure functions over strings: ``https`` is always allowed; ``http`` only to a
loopback host (``localhost``, ``127.0.0.0/8``, ``::1``) unless the user opted
into cleartext; every other scheme is refused (SPEC §1).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import InsecureUrlError

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def is_loopback_host(host: str | None) -> bool:
    """Return True when ``host`` (without brackets or port) is a loopback address.

    Only exact matches count: ``127.0.0.1.attacker.test`` is a DNS name, not an
    address, and therefore not loopback.
    """
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str | None:
    """Return the host part of ``url`` as the HTTP stack will connect to it."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def check_secure_url(url: str, *, allow_insecure_http: bool, what: str = "URL") -> str:
    """Return ``url`` unchanged when it satisfies the secure-URL rule, else raise.

    Raises:
        InsecureUrlError: for a scheme other than http(s), a missing host, or
            cleartext http to a non-loopback host without ``allow_insecure_http``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a malformed port raises here rather than at connect time
        _check_authority(parts.netloc)
    except ValueError as exc:
        raise InsecureUrlError(f"{what} {url!r} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InsecureUrlError(f"{what} {url!r} must use https (or http to a loopback host)")
    if not host:
        raise InsecureUrlError(f"{what} {url!r} has no host")
    if scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise InsecureUrlError(
            f"{what} {url!r} uses cleartext http to a non-loopback host; use https, "
            "or set ALLOW_INSECURE_HTTP=true to accept the risk"
        )
    return url


def _check_authority(netloc: str) -> None:
    """Refuse what ``urlsplit`` tolerates but an HTTP client reads differently.

    ``http://[::1].attacker.test/`` has the host ``::1`` for ``urlsplit`` but is
    no valid URL at all; its classification must not depend on which parser
    looks at it. Whitespace and control characters are refused for the same reason.
    """
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        rest = hostport.partition("]")[2]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise ValueError("junk after the bracketed host")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in netloc):
        raise ValueError("whitespace or control characters in the host")


def origin(url: str) -> str:
    """Return the RFC 6454 origin (``scheme://host[:port]``) of ``url``, lower-cased.

    Default ports are dropped so that ``https://a.example`` and
    ``https://a.example:443`` compare equal.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


__all__ = ["check_secure_url", "is_loopback_host", "origin", "url_host"]
