"""mcp-oauth2-proxy: a local stdio MCP server bridging to a remote OAuth 2-protected MCP server."""

from ._imports import trim_imports

trim_imports()

__version__ = "0.1.0"

__all__ = ["__version__"]
