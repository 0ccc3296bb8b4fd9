"""Benchmark upstream: an official MCP SDK server behind a bearer-token check, as its own process.

Run as ``python -m benchmarks.upstream --mode json|sse --token T``. It binds 127.0.0.1 on a free
port, prints ``READY <port>`` on stdout, and stops when its stdin closes, so it can never outlive
the driver that started it. It runs in its own process so that it does not share a GIL with the
driver or the bridge being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MCP_PATH = "/mcp"


class BearerCheck:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"www-authenticate", b'Bearer error="invalid_token"'),
                        (b"content-type", b"application/json"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"error":"invalid_token"}'})
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False


def build_app(mode: str, token: str) -> ASGIApp:
    """The SDK's stateful Streamable HTTP app with tools echo, blob and sleep, behind the check."""
    from mcp.server.mcpserver import MCPServer

    server: MCPServer[Any] = MCPServer("benchmark-upstream", log_level="WARNING")

    # structured_output=False: a str result would otherwise be sent twice (text + structured),
    # doubling every blob on the wire.
    @server.tool(structured_output=False)
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool(structured_output=False)
    def blob(n: int) -> str:
        """Return n bytes of text."""
        return "x" * n

    @server.tool(structured_output=False)
    async def sleep(ms: int) -> str:
        """Answer after ms milliseconds."""
        await asyncio.sleep(ms / 1000)
        return "slept"

    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=(mode == "json"),
        stateless_http=False,
    )
    return BearerCheck(app, token)


def _stop_on_stdin_eof(stop: Callable[[], None]) -> None:
    """Block on stdin in a daemon thread; the driver closing it (or dying) stops the server."""

    def watch() -> None:
        sys.stdin.buffer.read()
        stop()

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="benchmarks.upstream")
    parser.add_argument("--mode", choices=["json", "sse"], required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)

    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when it is,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before READY: a client that connects before uvicorn starts accepting waits in the
    # backlog instead of being refused.
    sock.listen(4096)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(args.mode, args.token),
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def stop() -> None:
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    _stop_on_stdin_eof(stop)
    print(f"READY {port}", flush=True)
    try:
        loop.run_until_complete(server.serve(sockets=[sock]))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
