"""Composition: the demo authorization server and the OAuth-protected MCP server.

:func:`build_demo_servers` wires the ASGI apps for given URLs (tests drive them
in-process with ``httpx.ASGITransport``); :func:`run_demo_servers` binds two
ephemeral loopback ports, builds the apps for the real URLs, serves them with
uvicorn in the current event loop and shuts them down on exit.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import uvicorn
from starlette.types import ASGIApp

from .. import log
from .approval import ApprovalPolicy, AskUser, AutoApprove, AutoDeny
from .authorization_server import AuthorizationServer
from .cimd import MetadataFetcher
from .clock import Clock, SystemClock
from .events import EventLog, EventRecorder
from .failures import FailureInjector
from .gate import ProtectedResourceGate, ProtectedResourceSettings, ScopePolicy
from .mcp import McpHttpApp, McpServer
from .settings import AuthorizationServerSettings

ApprovalMode = Literal["auto", "consent", "deny"]
_log = log.get_logger(__name__)


def approval_policy(mode: ApprovalMode | ApprovalPolicy) -> ApprovalPolicy:
    """Return the policy for a mode name: auto (approve), consent (ask the person), deny."""
    if mode == "auto":
        return AutoApprove()
    if mode == "consent":
        return AskUser()
    if mode == "deny":
        return AutoDeny()
    if isinstance(mode, str):
        raise TypeError(f"unknown approval mode {mode!r}")
    return mode


@dataclass
class DemoServers:
    """The demo's two servers, their URLs and the knobs tests and the demo turn."""

    issuer: str
    mcp_url: str
    auth: AuthorizationServer
    mcp: McpServer
    resource: ProtectedResourceSettings
    events: EventLog
    failures: FailureInjector
    auth_app: ASGIApp
    mcp_app: ASGIApp

    @property
    def resource_metadata_url(self) -> str:
        """Where the MCP endpoint's protected-resource metadata is served."""
        return self.resource.metadata_url

    @property
    def verification_uri(self) -> str:
        """The device flow's verification page."""
        return self.auth.settings.endpoint("/device")

    def set_approval(self, mode: ApprovalMode | ApprovalPolicy) -> None:
        """Switch between auto-approval, the consent page and denial at run time."""
        self.auth.approval = approval_policy(mode)


def build_demo_servers(
    *,
    issuer: str,
    mcp_url: str,
    approval: ApprovalMode | ApprovalPolicy = "auto",
    clock: Clock | None = None,
    auth_overrides: Mapping[str, Any] | None = None,
    scopes_supported: tuple[str, ...] = ("mcp",),
    required_scopes: tuple[str, ...] = ("mcp",),
    scope_policy: ScopePolicy | None = None,
    metadata_fetcher: MetadataFetcher | None = None,
    events: EventLog | None = None,
    protected_app: ASGIApp | None = None,
) -> DemoServers:
    """Wire the authorization server, the gate and the MCP server for the given URLs.

    ``protected_app`` puts another MCP server (any ASGI app serving ``mcp_url``'s
    path) behind the gate instead of the demo's own.

    ``auth_overrides`` replaces fields of :class:`AuthorizationServerSettings`
    (``access_token_ttl``, ``revoke_grant_on_refresh_reuse`` …). The server issues
    tokens only for ``mcp_url`` (RFC 8707 ``invalid_target`` otherwise), binds them
    to it when a request names no resource, and the gate accepts only those.
    """
    clock = clock or SystemClock()
    events = events or EventLog(clock)
    failures = FailureInjector()
    settings = AuthorizationServerSettings(
        issuer=issuer,
        scopes_supported=(*scopes_supported, "offline_access"),
        default_scopes=required_scopes,
        resources=(mcp_url,),
        default_resource=mcp_url,
    )
    settings = dataclasses.replace(settings, **dict(auth_overrides or {}))
    auth = AuthorizationServer(
        settings,
        clock=clock,
        approval=approval_policy(approval),
        metadata_fetcher=metadata_fetcher,
        failures=failures,
        events=events,
    )
    resource = ProtectedResourceSettings(
        resource=mcp_url,
        authorization_servers=(issuer,),
        scopes_supported=scopes_supported,
        required_scopes=required_scopes,
        resource_name="mcp-oauth2-proxy demo MCP server",
    )
    mcp = McpServer(clock=clock)
    mcp_path = _path_of(mcp_url)
    gate = ProtectedResourceGate(
        protected_app or McpHttpApp(mcp, path=mcp_path, failures=failures),
        settings=resource,
        verifier=auth.verifier(),
        scope_policy=scope_policy,
    )
    return DemoServers(
        issuer=issuer,
        mcp_url=mcp_url,
        auth=auth,
        mcp=mcp,
        resource=resource,
        events=events,
        failures=failures,
        auth_app=auth.asgi_app(),
        mcp_app=EventRecorder(gate, log=events, server="mcp"),
    )


def _path_of(url: str) -> str:
    return urlsplit(url).path or "/"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's event loop: no signal handlers, a started event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    def capture_signals(self) -> Any:  # the host program owns SIGINT/SIGTERM
        """Leave signal handling to the host program."""
        return nullcontext()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then announce it."""
        await super().startup(sockets=sockets)
        self.ready.set()


def bind_ephemeral(host: str) -> socket.socket:
    """Bind a TCP socket on ``host`` to a free port chosen by the OS."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.bind(address)
    return sock


def base_url(sock: socket.socket) -> str:
    """Return ``http://host:port`` for a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=2,
    )


@asynccontextmanager
async def run_demo_servers(
    *,
    host: str = "127.0.0.1",
    mcp_path: str = "/mcp",
    approval: ApprovalMode | ApprovalPolicy = "auto",
    clock: Clock | None = None,
    auth_overrides: Mapping[str, Any] | None = None,
    scopes_supported: tuple[str, ...] = ("mcp",),
    required_scopes: tuple[str, ...] = ("mcp",),
    scope_policy: ScopePolicy | None = None,
    metadata_fetcher: MetadataFetcher | None = None,
    events: EventLog | None = None,
    protected_app: ASGIApp | None = None,
) -> AsyncIterator[DemoServers]:
    """Serve the demo on two ephemeral ports of ``host`` for the duration of the block.

    The authorization server is at ``demo.issuer`` and the protected MCP endpoint
    at ``demo.mcp_url``; the other arguments are those of :func:`build_demo_servers`.
    Both servers run in the current event loop and stop when the block exits.
    """
    auth_sock, mcp_sock = bind_ephemeral(host), bind_ephemeral(host)
    demo = build_demo_servers(
        issuer=base_url(auth_sock),
        mcp_url=base_url(mcp_sock) + mcp_path,
        approval=approval,
        clock=clock,
        auth_overrides=auth_overrides,
        scopes_supported=scopes_supported,
        required_scopes=required_scopes,
        scope_policy=scope_policy,
        metadata_fetcher=metadata_fetcher,
        events=events,
        protected_app=protected_app,
    )
    servers = [
        (_EmbeddedServer(_config(demo.auth_app)), auth_sock),
        (_EmbeddedServer(_config(demo.mcp_app)), mcp_sock),
    ]
    try:
        async with anyio.create_task_group() as group:
            for server, sock in servers:
                group.start_soon(server.serve, [sock])
                await server.ready.wait()
            _log.info("server.demo_started", issuer=demo.issuer, mcp_url=demo.mcp_url)
            try:
                yield demo
            finally:
                for server, _sock in servers:
                    server.should_exit = True
    finally:
        for _server, sock in servers:
            sock.close()


__all__ = [
    "ApprovalMode",
    "DemoServers",
    "approval_policy",
    "base_url",
    "bind_ephemeral",
    "build_demo_servers",
    "run_demo_servers",
]
