"""A real MCP server (official Python SDK) for end-to-end tests, run as a subprocess.

Usage: python sdk_server.py [--port N] [--stateless] [--json] [--event-store] [--sse]
                            [--oauth [--client ID[:SECRET]]... | --jwt-issuer URL]
Prints ``PORT <n>`` on stdout once listening on 127.0.0.1. ``--sse`` serves the
legacy HTTP+SSE transport (2024-11-05) at ``/sse`` instead of Streamable HTTP at ``/mcp``.
With ``--oauth`` the server sits behind the project's protected-resource gate, next
to the project's authorization server (auto-approving logins), and prints ``MCP <url>``
and ``ISSUER <url>`` instead; each ``--client`` is pre-registered there. With
``--jwt-issuer`` the gate accepts only JWT access tokens from that (third-party)
issuer, checked against its JWKS and bound to this server's ``/mcp`` URL, and
publishes protected-resource metadata naming that issuer; it prints ``MCP <url>``.
"""

from __future__ import annotations

import argparse
import itertools
import socket
import sys
import threading
import warnings
from collections import deque
from typing import Annotated

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel, Field

warnings.simplefilter("ignore")


class MemoryEventStore(EventStore):
    """Keeps every event in memory so cut streams can be resumed with Last-Event-ID."""

    def __init__(self) -> None:
        self._events: deque[tuple[str, str, object]] = deque(maxlen=10_000)
        self._ids = itertools.count(1)

    async def store_event(self, stream_id, message):  # type: ignore[no-untyped-def]
        event_id = str(next(self._ids))
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback: EventCallback):  # type: ignore[no-untyped-def]
        stream = next((s for e, s, _ in self._events if e == last_event_id), None)
        if stream is None:
            return None
        found = False
        for event_id, stream_id, message in list(self._events):
            if found and stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))  # type: ignore[arg-type]
            found = found or event_id == last_event_id
        return stream


class Answer(BaseModel):
    answer: str


def build_server() -> MCPServer:
    mcp = MCPServer("e2e-upstream")

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    @mcp.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @mcp.tool()
    def regional(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], query: str
    ) -> str:
        """A tool routed by the region header (2026-07-28 x-mcp-header)."""
        return f"{region}:{query}"

    @mcp.tool()
    async def hang(ctx: Context) -> str:
        """Report progress once, then take a long time."""
        await ctx.report_progress(1, 2, "started")
        await anyio.sleep(60)
        return "finished"

    @mcp.tool()
    def blob(size: int) -> str:
        """Return ``size`` bytes of text."""
        return "x" * size

    @mcp.tool()
    async def progress(steps: int, ctx: Context) -> str:
        """Report progress and log a message per step."""
        for step in range(steps):
            await ctx.report_progress(step + 1, steps, f"step {step + 1}")
            await ctx.info(f"log {step + 1}")
        return "progressed"

    @mcp.tool()
    async def sample(prompt: str, ctx: Context) -> str:
        """Ask the client's model."""
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
            max_tokens=10,
            related_request_id=ctx.request_id,
        )
        content = result.content
        return content.text if isinstance(content, TextContent) else str(content)

    @mcp.tool()
    async def ask(question: str, ctx: Context) -> str:
        """Elicit an answer from the user."""
        result = await ctx.elicit(question, Answer)
        return f"{result.action}:{result.data.answer if result.data else ''}"

    @mcp.tool()
    async def roots(ctx: Context) -> str:
        """List the client's roots."""
        result = await ctx.session.list_roots()
        return ",".join(str(r.uri) for r in result.roots)

    @mcp.tool()
    async def interrupted(ctx: Context) -> str:
        """Close the response stream mid-call (SSE polling), then answer on the resumed stream."""
        await ctx.info("before the cut")
        await ctx.close_sse_stream()
        await anyio.sleep(0.3)
        return "answered after resumption"

    @mcp.tool()
    def whoami(ctx: Context) -> str:
        """Say who the verified access token belongs to (behind a gate only)."""
        from mcp_oauth2_proxy.server import token_info

        request = ctx.request_context.request
        info = token_info(request.scope) if request is not None else None
        if info is None:
            return "anonymous"
        return f"{info.subject} via {info.client_id} for {' '.join(info.resources)}"

    @mcp.resource("memo://greeting")
    def greeting() -> str:
        """A greeting."""
        return "hello from the resource"

    @mcp.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Please greet {name}."

    return mcp


async def serve_with_oauth(app: object, server: MCPServer, clients: list[str]) -> None:
    from mcp_oauth2_proxy.log import configure_logging
    from mcp_oauth2_proxy.server import RegisteredClient, run_demo_servers

    configure_logging("warn", "json")  # stderr: stdout carries only the lines the tests read

    async with server.session_manager.run(), run_demo_servers(protected_app=app) as demo:  # type: ignore[arg-type]
        for entry in clients:
            client_id, _, secret = entry.partition(":")
            await demo.auth.clients.add(
                RegisteredClient(
                    client_id=client_id,
                    client_secret=secret or None,
                    redirect_uris=("http://127.0.0.1/callback",),
                    grant_types=frozenset(
                        {"authorization_code", "refresh_token", "client_credentials"}
                    ),
                    token_endpoint_auth_method="client_secret_basic" if secret else "none",
                )
            )
        print(f"MCP {demo.mcp_url}", flush=True)
        print(f"ISSUER {demo.issuer}", flush=True)
        await anyio.sleep_forever()


def serve_behind_jwt_gate(app: object, sock: socket.socket, issuer: str) -> None:
    import httpx
    from jwt_verifier import JwksTokenVerifier

    from mcp_oauth2_proxy.server import ProtectedResourceGate, ProtectedResourceSettings

    with httpx.Client(trust_env=False, timeout=10) as http:
        metadata = http.get(f"{issuer}/.well-known/openid-configuration").json()
    resource = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    gate = ProtectedResourceGate(
        app,  # type: ignore[arg-type]
        settings=ProtectedResourceSettings(
            resource=resource, authorization_servers=(issuer,), resource_name="e2e upstream"
        ),
        verifier=JwksTokenVerifier(issuer=issuer, audience=resource, jwks_uri=metadata["jwks_uri"]),
    )
    server = uvicorn.Server(uvicorn.Config(gate, log_level="warning", lifespan="on"))

    def exit_when_stdin_closes() -> None:
        sys.stdin.read()  # returns at EOF: the test (or whatever started us) is gone
        server.should_exit = True

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"MCP {resource}", flush=True)
    server.run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--event-store", action="store_true")
    parser.add_argument("--sse", action="store_true")
    parser.add_argument("--oauth", action="store_true")
    parser.add_argument("--client", action="append", default=[])
    parser.add_argument("--jwt-issuer")
    args = parser.parse_args()
    server = build_server()
    if args.sse:
        app = server.sse_app(max_request_body_size=200_000_000)
    else:
        app = server.streamable_http_app(
            stateless_http=args.stateless,
            json_response=args.json,
            event_store=MemoryEventStore() if args.event_store else None,
            retry_interval=100 if args.event_store else None,
            max_request_body_size=200_000_000,
        )
    if args.oauth:
        anyio.run(serve_with_oauth, app, server, args.client)
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    if args.jwt_issuer:
        serve_behind_jwt_gate(app, sock, args.jwt_issuer)
        return
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
