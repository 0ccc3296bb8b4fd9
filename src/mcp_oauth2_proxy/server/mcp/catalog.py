"""What the demo MCP server offers: tools, one resource, one prompt.

Tools are plain async functions over validated arguments and a
:class:`ToolContext` (clock, caller's token, progress reporting), so they are
tested without HTTP and new ones are a few lines each.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..clock import Clock
from ..verifier import TokenInfo

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolInputError(ValueError):
    """The arguments of a tool call are invalid (reported as a tool error, not a protocol error)."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use besides its arguments."""

    clock: Clock
    token: TokenInfo | None
    progress: Progress


ToolHandler = Callable[[ToolContext, Mapping[str, Any]], Awaitable["ToolOutput"]]


@dataclass(frozen=True)
class ToolOutput:
    """A tool's answer: text, and optionally structured content."""

    text: str
    structured: Mapping[str, Any] | None = None
    is_error: bool = False

    def as_result(self, *, structured: bool) -> dict[str, Any]:
        """Return the ``tools/call`` result (structuredContent only where the revision has it)."""
        out: dict[str, Any] = {
            "content": [{"type": "text", "text": self.text}],
            "isError": self.is_error,
        }
        if structured and self.structured is not None:
            out["structuredContent"] = dict(self.structured)
        return out


@dataclass(frozen=True)
class Tool:
    """One tool and its JSON Schemas."""

    name: str
    title: str
    description: str
    input_schema: Mapping[str, Any]
    handler: ToolHandler
    output_schema: Mapping[str, Any] | None = None
    streams: bool = False

    def describe(self, *, structured: bool) -> dict[str, Any]:
        """Return the ``tools/list`` entry."""
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": dict(self.input_schema),
        }
        if structured and self.output_schema is not None:
            out["outputSchema"] = dict(self.output_schema)
        return out


@dataclass(frozen=True)
class Resource:
    """One readable resource."""

    uri: str
    name: str
    description: str
    mime_type: str
    text: str

    def describe(self) -> dict[str, Any]:
        """Return the ``resources/list`` entry."""
        return {
            "uri": self.uri,
            "name": self.name,
            "description": self.description,
            "mimeType": self.mime_type,
        }


@dataclass(frozen=True)
class Prompt:
    """One prompt template with named arguments."""

    name: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    render: Callable[[Mapping[str, str]], str]

    def describe(self) -> dict[str, Any]:
        """Return the ``prompts/list`` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "arguments": [
                {"name": n, "description": d, "required": r} for n, d, r in self.arguments
            ],
        }


@dataclass(frozen=True)
class Catalog:
    """Everything the server lists."""

    tools: tuple[Tool, ...] = ()
    resources: tuple[Resource, ...] = ()
    prompts: tuple[Prompt, ...] = ()
    by_name: dict[str, Tool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {t.name: t for t in self.tools})


def _number(args: Mapping[str, Any], name: str) -> float:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolInputError(f"{name} must be a number")
    return value


def _integer(args: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ToolInputError(f"{name} must be an integer from {low} to {high}")
    return value


async def _echo(_ctx: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    text = args.get("text")
    if not isinstance(text, str):
        raise ToolInputError("text must be a string")
    return ToolOutput(text)


async def _add(_ctx: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    total = _number(args, "a") + _number(args, "b")
    shown = int(total) if float(total).is_integer() else total
    return ToolOutput(str(shown), {"sum": shown})


async def _get_time(ctx: ToolContext, _args: Mapping[str, Any]) -> ToolOutput:
    now = ctx.clock.now()
    iso = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).isoformat()
    return ToolOutput(iso, {"iso": iso, "unix": now})


async def _slow_count(ctx: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
    count = _integer(args, "count", 5, 1, 100)
    interval = _integer(args, "interval_ms", 200, 0, 10_000) / 1000
    for step in range(1, count + 1):
        await anyio.sleep(interval)
        await ctx.progress(step, count, f"counted {step} of {count}")
    return ToolOutput(f"Counted to {count}.", {"count": count})


async def _whoami(ctx: ToolContext, _args: Mapping[str, Any]) -> ToolOutput:
    if ctx.token is None:
        return ToolOutput("anonymous (no OAuth gate in front of this server)", {})
    info = ctx.token
    scopes = sorted(info.scopes)
    data = {
        "subject": info.subject,
        "client_id": info.client_id,
        "scopes": scopes,
        "resources": list(info.resources),
        "expires_at": info.expires_at,
    }
    return ToolOutput(
        f"{info.subject} via client {info.client_id} with scope {' '.join(scopes)}", data
    )


_EMPTY: Mapping[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_README = """# mcp-oauth2-proxy demo server

This MCP server sits behind an OAuth 2.1 protected-resource gate. Every request
you see answered here travelled through mcp-oauth2-proxy, which discovered the
authorization server, registered itself, logged in and attached a bearer token.

Try the tools: `echo`, `add`, `get_time`, `slow_count` (progress notifications)
and `whoami` (what the access token says about you).
"""


def _summarize(args: Mapping[str, str]) -> str:
    style = args.get("style") or "one short paragraph"
    return f"Summarize the following text as {style}:\n\n{args['text']}"


def demo_catalog() -> Catalog:
    """Return the demo server's tools, resource and prompt."""
    tools = (
        Tool(
            "echo",
            "Echo",
            "Return the given text unchanged.",
            {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            _echo,
        ),
        Tool(
            "add",
            "Add two numbers",
            "Return a + b.",
            {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
            _add,
            output_schema={
                "type": "object",
                "properties": {"sum": {"type": "number"}},
                "required": ["sum"],
            },
        ),
        Tool(
            "get_time", "Current time", "Return the server's current UTC time.", _EMPTY, _get_time
        ),
        Tool(
            "slow_count",
            "Count slowly",
            "Count to `count`, one step every `interval_ms`, reporting progress.",
            {
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
                    "interval_ms": {"type": "integer", "minimum": 0, "maximum": 10000},
                },
            },
            _slow_count,
            streams=True,
        ),
        Tool("whoami", "Who am I", "Describe the caller's access token.", _EMPTY, _whoami),
    )
    resources = (
        Resource(
            "demo://readme",
            "readme",
            "What this demo server is.",
            "text/markdown",
            _README,
        ),
    )
    prompts = (
        Prompt(
            "summarize",
            "Ask the model to summarize a text.",
            (("text", "The text to summarize", True), ("style", "How to summarize", False)),
            _summarize,
        ),
    )
    return Catalog(tools, resources, prompts)


__all__ = [
    "Catalog",
    "Progress",
    "Prompt",
    "Resource",
    "Tool",
    "ToolContext",
    "ToolInputError",
    "ToolOutput",
    "demo_catalog",
]
