"""Wiring of one bridge run: logging, the HTTP client, authorization, transport, bridge, stdio."""

from __future__ import annotations

import functools
import signal
import ssl
import sys
from typing import TYPE_CHECKING
from urllib.request import getproxies

import anyio
import httpx

from .bridge import Bridge
from .errors import EXIT_OK, AuthError
from .heap import HeapKeeper, SeenSink, seen_lines
from .log import configure_logging, get_logger
from .stdio import StdioReader, StdioWriter, grow_pipe
from .transport.auto import build_transport
from .transport.lanes import KEEPALIVE_EXPIRY_S, LANE_CONNECTIONS, LanedTransport

if TYPE_CHECKING:
    from .auth import AuthSession
    from .config import Settings

MAX_REQUESTS = 100
"""Requests in flight upstream at once; later ones wait their turn, without a timeout.

Every in-flight SSE answer holds one HTTP/1.1 connection for its whole
duration, so this many calls can run at once. Beyond it, requests wait in the
transport, first come first served, for as long as it takes (a pool timeout
would fail calls that merely queue behind slow ones; the upstream timeout
still bounds each exchange once it is sent).
"""
LANES = 14
"""Connection lanes of LANE_CONNECTIONS (8) each: 112 connections, one per request slot plus
room for what never waits for a slot (notifications, responses to server requests, the GET
stream, DELETE)."""
MAX_CONNECTIONS = LANES * LANE_CONNECTIONS
_WANTED_FILE_DESCRIPTORS = MAX_CONNECTIONS + 256
_log = get_logger(__name__)


def run(settings: Settings) -> int:
    """Run the stdio bridge until stdin closes or a signal arrives; return the exit code."""
    upstream = settings.upstream
    configure_logging(
        settings.log.level, settings.log.format, extra_secrets=upstream.headers.values()
    )
    _raise_file_limit()
    return anyio.run(_serve, settings)


async def _serve(settings: Settings) -> int:
    async with build_client(settings) as client:
        session = await build_auth(settings, client)
        if session is not None:
            client.auth = session.auth
        upstream = settings.upstream
        _log.debug("stdio.stdout_pipe", bytes=grow_pipe(sys.stdout.fileno()))
        writer = StdioWriter()
        heap = HeapKeeper()
        sink = SeenSink(writer, heap)
        failure: list[AuthError] = []
        async with anyio.create_task_group() as tg:
            transport = build_transport(
                upstream.transport,
                client,
                upstream.url,
                task_group=tg,
                server_sink=sink.send,
                headers=upstream.headers,
                timeout_s=upstream.timeout_ms / 1000,
                protocol_version=upstream.protocol_version,
                max_requests=MAX_REQUESTS,
                max_message_bytes=upstream.max_message_bytes,
            )
            bridge = Bridge(transport, sink, open_server_stream=upstream.open_server_stream)
            writer.on_closed = bridge.stop
            _log.info("bridge.started", upstream=upstream.url, grant=settings.oauth2.grant)
            if sys.platform != "win32":
                tg.start_soon(_stop_on_signal, bridge)
            if session is not None:
                tg.start_soon(_prefetch, session, bridge, failure)
            await bridge.run(seen_lines(StdioReader(max_line_bytes=settings.max_line_bytes), heap))
            tg.cancel_scope.cancel()
        heap.close()
        if session is not None:
            await session.aclose()
        _log.info("bridge.stopped")
        if failure:
            raise failure[0]
        return EXIT_OK


async def _prefetch(session: AuthSession, bridge: Bridge, failure: list[AuthError]) -> None:
    """Log in while stdin is already read, so the browser opens before the first message.

    A login that fails here means no request could ever succeed: the bridge
    stops (pending requests are answered with errors) and the run ends with
    the authorization exit code.
    """
    try:
        await session.prefetch()
    except AuthError as exc:
        failure.append(exc)
        bridge.stop()


async def _stop_on_signal(bridge: Bridge) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            _log.info("bridge.signal", signal=signal.Signals(signum).name)
            bridge.stop()


def build_client(settings: Settings) -> httpx.AsyncClient:
    """Build the one HTTP client of the run: env proxies, OS trust store, no redirects, sized pool.

    Redirects are never followed by httpx: the transport follows only
    same-origin 307/308 itself, so a token can never travel to another origin.
    Connections come from :class:`LanedTransport` lanes (see there why).
    """
    timeout_s = settings.upstream.timeout_ms / 1000
    _read_what_asyncio_delivers()

    def lane(limits: httpx.Limits, tls: bool) -> httpx.AsyncHTTPTransport:
        # Plain-HTTP lanes never handshake; their context trusts no certificate at all,
        # so it could not be misused, and costs nothing to build (no certificate store).
        context = _shared_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return httpx.AsyncHTTPTransport(verify=context, limits=limits)

    # ``limits`` and ``verify`` only configure the transports httpx mounts for
    # HTTPS_PROXY/ALL_PROXY (trust_env); direct connections use the lanes. Without
    # proxies httpx never reads ``verify`` (and True would still mean verified TLS).
    verify: ssl.SSLContext | bool = _shared_ssl_context() if getproxies() else True
    return httpx.AsyncClient(
        trust_env=True,
        verify=verify,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_s, pool=None),
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        ),
        transport=LanedTransport(LANES, lane),
    )


ASYNCIO_READ_BYTES = 256 * 1024
"""How much asyncio's socket transport receives at once (``max_size`` of its selector transport)."""


def _read_what_asyncio_delivers() -> None:
    """Make httpcore read response bytes in pieces as large as asyncio receives them.

    httpcore asks for 64 KiB per read, while asyncio receives up to 256 KiB at
    once; anyio then cuts every such chunk into 64 KiB copies, and each read
    resumes and pauses the socket again. A 64 MB body thus took 4,096 reads
    and 1.5 extra copies of itself; reading 256 KiB takes 256 reads and none.
    Smaller responses are unaffected: a read returns what has arrived. The
    attribute is httpcore's documented-in-code read size (``READ_NUM_BYTES``),
    set once for this process; should httpcore drop it, nothing breaks.
    """
    import httpcore

    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = ASYNCIO_READ_BYTES


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    return build_ssl_context()


def build_ssl_context() -> ssl.SSLContext:
    """Trust the OS certificate store (truststore) plus certifi's bundle.

    When truststore cannot load, certifi's bundle alone is used. Built on the
    first HTTPS connection, not at start-up (~20 ms).
    """
    import certifi
    import truststore

    try:
        ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except (OSError, ssl.SSLError) as exc:
        _log.warning("tls.truststore_unavailable", error=str(exc))
        return ssl.create_default_context(cafile=certifi.where())
    try:
        ctx.load_verify_locations(cafile=certifi.where())
    except (OSError, ssl.SSLError, NotImplementedError) as exc:
        _log.debug("tls.certifi_not_added", error=str(exc))
    return ctx


async def build_auth(settings: Settings, client: httpx.AsyncClient) -> AuthSession | None:
    """Return the authorization of this run, or None for grant ``none`` (static headers only).

    The auth package is imported here, in the composition root, and only when
    a grant needs it: the bridge and transport never import it.
    """
    if settings.oauth2.grant == "none":
        return None
    from .auth import create_auth

    return await create_auth(settings, client)


def _raise_file_limit() -> None:
    """Let the pool open thousands of sockets: lift the soft descriptor limit where allowed."""
    if sys.platform == "win32":  # no RLIMIT_NOFILE; the Windows socket limit is far higher
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = (
        _WANTED_FILE_DESCRIPTORS
        if hard == resource.RLIM_INFINITY
        else min(hard, _WANTED_FILE_DESCRIPTORS)
    )
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            _log.debug("process.file_limit_unchanged", error=str(exc))


__all__ = [
    "MAX_CONNECTIONS",
    "MAX_REQUESTS",
    "build_auth",
    "build_client",
    "build_ssl_context",
    "run",
]
