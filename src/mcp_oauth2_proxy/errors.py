"""One exception tree for the whole program.

Every failure the proxy can report derives from :class:`ProxyError`. Foreign
exceptions (httpx, OS, pydantic) are translated once, where they enter our code,
with ``raise ... from exc``; everything above that boundary handles only these
types. Each class carries the process exit code the CLI uses when the error ends
the program (SPEC §5).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3


class ProxyError(Exception):
    """Base of every error the proxy raises on purpose."""

    exit_code: int = EXIT_UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ProxyError):
    """Invalid configuration or command-line usage.

    ``field`` is the user-facing name of the offending setting (``upstream.url``),
    ``source`` where the value came from (``environment variable UPSTREAM_URL``,
    ``config file /path``, ``command line --timeout-ms``).
    """

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, *, field: str | None = None, source: str | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.source = source


class UpstreamError(ProxyError):
    """The upstream MCP server could not be reached or answered unusably."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP status of 400 or more."""

    def __init__(
        self, message: str, *, url: str | None = None, status: int, body: str = ""
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.body = body


class UpstreamMessageTooLargeError(UpstreamError):
    """One upstream message (a JSON body or an SSE event) exceeded ``upstream.maxMessageBytes``."""


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not answer (or went silent) within ``upstream.timeoutMs``."""


class SessionExpiredError(UpstreamError):
    """The upstream answered 404 to a request that carried a session id."""


class AuthError(ProxyError):
    """Authorization failed: discovery, login, token endpoint or refresh.

    ``error`` and ``error_description`` carry the OAuth error fields (RFC 6749
    §5.2) when a server supplied them.
    """

    exit_code = EXIT_AUTH

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.error_description = error_description
        self.url = url


class DiscoveryError(AuthError):
    """Authorization metadata was missing, malformed or failed a security check."""


class InsecureUrlError(ConfigError):
    """A URL breaks the secure-URL rule (https, or http only to loopback)."""


class StoreError(ProxyError):
    """The token store could not be read or written."""


__all__ = [
    "EXIT_AUTH",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "EXIT_USAGE",
    "AuthError",
    "ConfigError",
    "DiscoveryError",
    "InsecureUrlError",
    "ProxyError",
    "SessionExpiredError",
    "StoreError",
    "UpstreamError",
    "UpstreamMessageTooLargeError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
]
