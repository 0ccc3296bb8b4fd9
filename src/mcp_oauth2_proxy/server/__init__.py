"""The server side: an OAuth 2.1 authorization server, a protected-resource gate, an MCP server.

Used by the ``demo`` command and by the tests; the client side (bridge,
transport, auth) never imports this package, and this package never imports
them. Start here:

- :func:`run_demo_servers` / :func:`build_demo_servers`: the composed demo.
- :class:`AuthorizationServer` with :class:`AuthorizationServerSettings`.
- :class:`ProtectedResourceGate` with :class:`ProtectedResourceSettings` and a
  :class:`TokenVerifier`.
- :class:`McpServer` and :class:`McpHttpApp`: the demo MCP server.
"""

from __future__ import annotations

from .approval import (
    ApprovalPolicy,
    AskUser,
    AutoApprove,
    AutoDeny,
    CallbackApproval,
    ConsentRequest,
    Decision,
)
from .authorization_server import AuthorizationServer, PendingConsent
from .cimd import HttpxMetadataFetcher, MetadataFetcher, StaticMetadataFetcher
from .clients import ClientRegistry, InMemoryClientRegistry
from .clock import Clock, FakeClock, SystemClock
from .demo import DemoServers, approval_policy, build_demo_servers, run_demo_servers
from .events import EventLog, ServerEvent
from .failures import Failure, FailureInjector
from .gate import (
    ProtectedResourceGate,
    ProtectedResourceSettings,
    bearer_challenge,
    token_info,
    tool_scopes,
)
from .mcp import McpHttpApp, McpServer
from .models import RegisteredClient
from .settings import AuthorizationServerSettings
from .storage import InMemoryTokenStorage, TokenStorage
from .verifier import LocalTokenVerifier, TokenInfo, TokenVerifier

__all__ = [
    "ApprovalPolicy",
    "AskUser",
    "AuthorizationServer",
    "AuthorizationServerSettings",
    "AutoApprove",
    "AutoDeny",
    "CallbackApproval",
    "ClientRegistry",
    "Clock",
    "ConsentRequest",
    "Decision",
    "DemoServers",
    "EventLog",
    "Failure",
    "FailureInjector",
    "FakeClock",
    "HttpxMetadataFetcher",
    "InMemoryClientRegistry",
    "InMemoryTokenStorage",
    "LocalTokenVerifier",
    "McpHttpApp",
    "McpServer",
    "MetadataFetcher",
    "PendingConsent",
    "ProtectedResourceGate",
    "ProtectedResourceSettings",
    "RegisteredClient",
    "ServerEvent",
    "StaticMetadataFetcher",
    "SystemClock",
    "TokenInfo",
    "TokenStorage",
    "TokenVerifier",
    "approval_policy",
    "bearer_challenge",
    "build_demo_servers",
    "run_demo_servers",
    "token_info",
    "tool_scopes",
]
