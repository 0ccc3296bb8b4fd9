"""The loopback redirect listener for the browser login (RFC 8252 §7.3, SPEC §3).

A deliberately tiny HTTP/1.1 server on a real socket: it binds only the
configured loopback address, answers only the callback path, refuses requests
whose ``Host`` is not this listener (DNS rebinding), tolerates stray requests
(``/favicon.ico``, stale tabs) without aborting the login, accepts one code
exactly once, and answers with a small, escaped, uncacheable page.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import socket
import sys
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from ..errors import AuthError
from ..log import get_logger
from ..urls import is_loopback_host
from .grants import StateMismatchError, check_authorization_response

log = get_logger(__name__)

DEFAULT_PATH = "/callback"
MAX_REQUEST_HEAD = 16 * 1024
READ_TIMEOUT_SECONDS = 10.0
PAGE_WAIT_SECONDS = 60.0
_ADDR_IN_USE = {errno.EADDRINUSE, 10048}  # 10048: WSAEADDRINUSE on Windows
_SECURITY_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Connection", "close"),
)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}


@dataclass(frozen=True)
class CallbackConfig:
    """Where the listener binds and what redirect URI it answers to."""

    host: str = "127.0.0.1"
    port: int = 53682
    redirect_uri: str | None = None
    timeout_seconds: float = 300.0
    read_timeout_seconds: float = READ_TIMEOUT_SECONDS


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]


def render_page(title: str, message: str) -> bytes:
    """Return the small result page; both strings are HTML-escaped."""
    t, m = html.escape(title), html.escape(message)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{t}</title><style>body{{font:16px system-ui,sans-serif;margin:3em}}</style>"
        f"<h1>{t}</h1><p>{m}</p></html>"
    ).encode()


def http_response(status: int, body: bytes) -> bytes:
    """Serialise a complete HTTP/1.1 response with the security headers."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in _SECURITY_HEADERS]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def parse_host(value: str) -> tuple[str, int | None]:
    """Split a ``Host`` header into host and port (``None`` when absent or malformed)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = value.partition(":")
    if not port_text:
        return host, None
    # ASCII digits only: int() also reads "٥٣٦٨٢" or "²", which no browser sends.
    valid = port_text.isascii() and port_text.isdigit()
    return (host, int(port_text)) if valid else (host, -1)


def default_redirect_uri(host: str, port: int, path: str = DEFAULT_PATH) -> str:
    """``http://<host>:<port>/callback`` with IPv6 literals bracketed."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


class CallbackServer:
    """Async context manager running the listener for one login attempt.

    Use :attr:`redirect_uri` in the authorization request, :meth:`wait_for_code`
    for the code, then :meth:`finish` to tell the waiting browser how it ended.
    """

    def __init__(
        self,
        config: CallbackConfig,
        *,
        state: str,
        issuer: str | None = None,
        iss_required: bool = False,
    ) -> None:
        self._config = config
        self._state = state
        self._issuer = issuer
        self._iss_required = iss_required
        self._servers: list[asyncio.AbstractServer] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._port = 0
        self.redirect_uri = ""
        self._path = DEFAULT_PATH
        self._delivered = asyncio.Event()
        self._code: str | None = None
        self._error: AuthError | None = None
        self._finished = asyncio.Event()
        self._outcome = (True, "The login response was received. You can close this tab.")
        self._done = False

    @property
    def port(self) -> int:
        """The port actually bound (useful when the configured port is 0)."""
        return self._port

    async def __aenter__(self) -> CallbackServer:
        sockets = _bind(self._config.host, self._config.port)
        self._port = sockets[0].getsockname()[1]
        for sock in sockets:
            self._servers.append(
                await asyncio.start_server(self._handle, sock=sock, limit=MAX_REQUEST_HEAD)
            )
        self.redirect_uri = self._config.redirect_uri or default_redirect_uri(
            self._config.host, self._port
        )
        self._path = urlsplit(self.redirect_uri).path or DEFAULT_PATH
        log.debug("oauth.callback_listening", host=self._config.host, port=self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(ok=False, message="The login was interrupted. You can close this tab.")
        for server in self._servers:
            server.close()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for server in self._servers:
            await server.wait_closed()

    async def wait_for_code(self) -> str:
        """Wait for the browser to deliver a valid code.

        Raises:
            AuthError: the server reported an error, the response failed the
                RFC 9207 check, or no login completed in time.

        """
        try:
            await asyncio.wait_for(self._delivered.wait(), timeout=self._config.timeout_seconds)
        except asyncio.TimeoutError:
            raise AuthError(
                f"no browser login completed within {self._config.timeout_seconds:g} seconds "
                "(OAUTH2_CALLBACK_TIMEOUT_SECONDS)"
            ) from None
        if self._error is not None:
            raise self._error
        if self._code is None:
            raise AuthError("the login listener stopped before a code arrived")
        return self._code

    def finish(self, *, ok: bool, message: str) -> None:
        """Record how the login ended; the waiting browser tab shows ``message``."""
        if not self._finished.is_set():
            self._outcome = (ok, message)
            self._finished.set()

    # ------------------------------------------------------------ connection handling

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            request = await asyncio.wait_for(
                _read_request(reader), self._config.read_timeout_seconds
            )
            if request is not None:
                status, body = await self._respond(request)
                writer.write(http_response(status, b"" if request.method == "HEAD" else body))
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # a broken or hostile connection must not disturb the login
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _respond(self, request: _Request) -> tuple[int, bytes]:
        if request.method not in ("GET", "HEAD"):
            return 405, render_page("Not allowed", "This address only accepts the login redirect.")
        if not self._host_allowed(request.headers.get("host")):
            log.warning("oauth.callback_bad_host", host=request.headers.get("host", ""))
            return 400, render_page(
                "Refused", "This request did not come through the local address."
            )
        if not self._browser_navigation(request.headers):
            log.warning(
                "oauth.callback_cross_origin",
                origin=request.headers.get("origin", ""),
                fetch_mode=request.headers.get("sec-fetch-mode", ""),
            )
            return 403, render_page("Refused", "Only the browser's redirect is accepted here.")
        parts = urlsplit(request.target)
        if not request.target.startswith("/") or parts.path != self._path:
            return 404, render_page("Not found", "Nothing here.")
        if self._done:
            return 400, render_page(
                "Login already finished",
                "This login has already been completed. You can close this tab.",
            )
        return await self._callback(dict(parse_qsl(parts.query, keep_blank_values=True)))

    async def _callback(self, params: dict[str, str]) -> tuple[int, bytes]:
        try:
            code = check_authorization_response(
                params,
                expected_state=self._state,
                issuer=self._issuer,
                iss_required=self._iss_required,
            ).code
        except StateMismatchError:
            log.warning("oauth.callback_state_mismatch")
            return 400, render_page(
                "Login link out of date",
                "This response does not belong to the login in progress. "
                "Use the newest login link.",
            )
        except AuthError as exc:
            self._done = True
            self._error = exc
            self._delivered.set()
            return 400, render_page("Login failed", f"{exc} You can close this tab.")
        self._done = True
        self._code = code
        self._delivered.set()
        # Hold the browser's page until the code exchange ends, so it shows the real result.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._finished.wait(), PAGE_WAIT_SECONDS)
        ok, message = self._outcome
        return (
            (200, render_page("Logged in", message))
            if ok
            else (400, render_page("Login failed", message))
        )

    def _browser_navigation(self, headers: dict[str, str]) -> bool:
        """Tell a top-level navigation (the redirect) from a script or sub-resource request.

        Browsers send no ``Origin`` on a GET navigation, and ``Sec-Fetch-Mode:
        navigate`` where they send fetch metadata; a page on another site that
        fires ``fetch()`` or an ``<img>`` at the listener shows itself through
        one or the other, and is refused before the query is even looked at.
        """
        mode = headers.get("sec-fetch-mode")
        if mode is not None and mode.lower() != "navigate":
            return False
        value = headers.get("origin")
        if value is None:
            return True
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and self._host_allowed(parts.netloc)

    def _host_allowed(self, value: str | None) -> bool:
        if not value:
            return False
        host, port = parse_host(value)
        if port is None:
            port = 80
        if port == self._port and (is_loopback_host(host) or host == self._config.host.lower()):
            return True
        if self._config.redirect_uri:
            target = urlsplit(self._config.redirect_uri)
            default = 443 if target.scheme == "https" else 80
            return host == (target.hostname or "") and port == (target.port or default)
        return False


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("not an HTTP request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return _Request(parts[0].upper(), parts[1], headers)


def _bind(host: str, port: int) -> list[socket.socket]:
    """Bind the listening socket(s); ``localhost`` gets IPv4 and (best effort) IPv6."""
    addresses = ["127.0.0.1", "::1"] if host.lower().rstrip(".") == "localhost" else [host]
    first = _listen(addresses[0], port)
    sockets = [first]
    bound_port = first.getsockname()[1]
    for extra in addresses[1:]:
        with contextlib.suppress(OSError):
            sockets.append(_listen(extra, bound_port))
    return sockets


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":
            # SO_REUSEADDR on Windows lets another process steal the port; forbid sharing.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined,unused-ignore]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno in _ADDR_IN_USE or getattr(exc, "winerror", None) in _ADDR_IN_USE:
            raise AuthError(
                f"the login callback port {port} on {host} is already in use (another login "
                "in progress?); wait for it to finish, or set OAUTH2_CALLBACK_PORT to a free port "
                "(0 = any free port) and register the matching redirect URI with the server"
            ) from exc
        raise AuthError(
            f"cannot listen for the login callback on {host}:{port}: {exc.strerror}"
        ) from exc
    return sock


__all__ = [
    "DEFAULT_PATH",
    "CallbackConfig",
    "CallbackServer",
    "default_redirect_uri",
    "http_response",
    "parse_host",
    "render_page",
]
