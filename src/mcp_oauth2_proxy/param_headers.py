"""``x-mcp-header``: tool parameters mirrored into ``Mcp-Param-{Name}`` headers (2026-07-28).

Streamable HTTP 2026-07-28, "Custom Headers from Tool Parameters": a server
may mark primitive tool parameters with ``x-mcp-header``; an HTTP client must
then send each such argument as ``Mcp-Param-{Name}`` on ``tools/call``, and
must drop from ``tools/list`` any tool whose annotations break the rules. The
proxy learns the annotations from the ``tools/list`` answers it forwards.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .jsonrpc import encode_header_value

X_MCP_HEADER: Final = "x-mcp-header"
PARAM_HEADER_PREFIX: Final = "Mcp-Param-"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PRIMITIVES = frozenset({"string", "integer", "boolean"})
_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True)
class ParamHeader:
    """One annotated parameter: where its value sits in the arguments, and its header name."""

    path: tuple[str, ...]
    name: str


class InvalidAnnotationError(ValueError):
    """A tool's ``x-mcp-header`` annotations break the revision's constraints."""


def param_headers_of(input_schema: Any) -> tuple[ParamHeader, ...]:
    """Read the ``x-mcp-header`` annotations of an ``inputSchema``.

    Raises :class:`InvalidAnnotationError` for an empty or non-token name, a
    duplicate (case-insensitive), a non-primitive or ``number`` parameter, or an
    annotation not reachable from the root through ``properties`` alone.
    """
    found: list[ParamHeader] = []
    _walk(input_schema, (), static=True, found=found)
    names = [header.name.lower() for header in found]
    if len(set(names)) != len(names):
        raise InvalidAnnotationError("x-mcp-header names are not unique")
    return tuple(found)


def _walk(node: Any, path: tuple[str, ...], *, static: bool, found: list[ParamHeader]) -> None:
    if isinstance(node, list):
        for child in node:
            _walk(child, path, static=False, found=found)
        return
    if not isinstance(node, dict):
        return
    if X_MCP_HEADER in node:
        found.append(_annotation(node, path, static=static))
    for key, child in node.items():
        if key == X_MCP_HEADER:
            continue
        if key == "properties" and isinstance(child, dict):
            for name, schema in child.items():
                _walk(schema, (*path, name), static=static, found=found)
        else:
            _walk(child, path, static=False, found=found)


def _annotation(node: dict[str, Any], path: tuple[str, ...], *, static: bool) -> ParamHeader:
    name = node[X_MCP_HEADER]
    if not static or not path:
        raise InvalidAnnotationError("x-mcp-header outside a chain of properties")
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise InvalidAnnotationError(f"x-mcp-header {name!r} is not an HTTP token")
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list) or not kinds or not set(kinds) - {"null"} <= _PRIMITIVES:
        raise InvalidAnnotationError(f"x-mcp-header {name!r} is not on a string/integer/boolean")
    return ParamHeader(path, name)


def header_value(value: Any) -> str | None:
    """Render an argument as a header value; None when it has no header (null, non-primitive)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) <= _SAFE_INTEGER:
        return str(value)
    if isinstance(value, str):
        return encode_header_value(value)
    return None


def headers_for_call(params: tuple[ParamHeader, ...], arguments: Any) -> dict[str, str]:
    """``Mcp-Param-*`` headers for one call; absent and null arguments send none."""
    headers: dict[str, str] = {}
    for param in params:
        node = arguments
        for key in param.path:
            node = node.get(key) if isinstance(node, Mapping) else None
        value = header_value(node)
        if value is not None:
            headers[PARAM_HEADER_PREFIX + param.name] = value
    return headers


class ToolHeaders:
    """The ``x-mcp-header`` annotations of the tools seen in ``tools/list`` answers."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[ParamHeader, ...]] = {}

    def learn(self, result: Any) -> list[str]:
        """Record the tools of a ``tools/list`` result; return the names of invalid ones.

        The caller must drop the invalid tools from what the client sees.
        """
        tools = result.get("tools") if isinstance(result, dict) else None
        rejected: list[str] = []
        for tool in tools if isinstance(tools, list) else []:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str):
                continue
            try:
                self._tools[name] = param_headers_of(tool.get("inputSchema"))
            except InvalidAnnotationError:
                self._tools.pop(name, None)
                rejected.append(name)
        return rejected

    def headers(self, params: Mapping[str, Any]) -> dict[str, str]:
        """``Mcp-Param-*`` headers for the ``params`` of a ``tools/call``."""
        name = params.get("name")
        known = self._tools.get(name) if isinstance(name, str) else None
        return headers_for_call(known, params.get("arguments")) if known else {}


def without_tools(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A copy of a ``tools/list`` result without the named tools."""
    kept = [t for t in result["tools"] if not (isinstance(t, dict) and t.get("name") in names)]
    return {**result, "tools": kept}


__all__ = [
    "PARAM_HEADER_PREFIX",
    "X_MCP_HEADER",
    "InvalidAnnotationError",
    "ParamHeader",
    "ToolHeaders",
    "header_value",
    "headers_for_call",
    "param_headers_of",
    "without_tools",
]
