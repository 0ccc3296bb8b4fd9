"""A small MCP server for the demo: Streamable HTTP, hand-written on Starlette."""

from __future__ import annotations

from .catalog import Catalog, Prompt, Resource, Tool, ToolContext, demo_catalog
from .http import McpHttpApp
from .server import LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, McpServer, Session

__all__ = [
    "LATEST_PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "Catalog",
    "McpHttpApp",
    "McpServer",
    "Prompt",
    "Resource",
    "Session",
    "Tool",
    "ToolContext",
    "demo_catalog",
]
