"""``mcp-oauth2-proxy demo``: the whole product, end to end, on this machine.

Starts the embedded OAuth authorization server and OAuth-protected MCP server
on loopback ephemeral ports, launches the real proxy against them with no
OAuth settings at all (discovery → registration → login → token → MCP calls),
acts as its MCP client, and narrates every hop on stderr. ``--serve`` keeps
the servers up for the user's own MCP client instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import anyio
import httpx
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from ..errors import EXIT_OK, EXIT_UNEXPECTED, ProxyError
from ..log import configure_logging

PROTOCOL_VERSION = "2025-11-25"
LOGIN_MARKER = "to log in, open this URL"
_STRIPPED_ENV_PREFIXES = ("UPSTREAM_", "OAUTH2_", "MCP_PROXY_CONFIG", "LOG_", "DISCOVERY_")
_SHOWN_PROXY_EVENTS = {
    "oauth.discovered": "discovered the authorization server",
    "oauth.client_registered": "registered itself as an OAuth client",
    "oauth.configured": "configured OAuth",
    "oauth.login_started": "started the browser login",
    "oauth.login_completed": "completed the login",
    "oauth.token_obtained": "obtained an access token",
    "upstream.session_started": "opened an MCP session",
}


class DemoError(ProxyError):
    """The demo could not complete (the message says which step failed)."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``demo`` command."""
    p = argparse.ArgumentParser(
        prog="mcp-oauth2-proxy demo",
        description="Run an OAuth-protected MCP server and the proxy against it, on this machine.",
    )
    p.add_argument(
        "--headless",
        action="store_true",
        help="approve the login programmatically instead of in your browser",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="keep the demo servers running and print an MCP client configuration for them",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before giving up")
    return p


def run(argv: Sequence[str], stderr: TextIO | None = None) -> int:
    """Run the demo command; return the exit code."""
    args = build_parser().parse_args(list(argv))
    err = stderr or sys.stderr
    configure_logging("warn", "console", stream=err)
    headless = args.headless or not browser_available()
    try:
        if args.serve:
            anyio.run(_serve, headless, err)
        else:
            anyio.run(_demo, headless, args.timeout, err)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - task groups wrap the one failure worth reporting
        cause = _first_cause(exc)
        err.write(f"mcp-oauth2-proxy demo: failed: {cause}\n")
        return getattr(cause, "exit_code", EXIT_UNEXPECTED)
    return EXIT_OK


def _first_cause(exc: BaseException) -> BaseException:
    """Unwrap exception groups down to the first error a person should read."""
    while getattr(exc, "exceptions", None):  # an exception group (built in from 3.11 only)
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    if isinstance(exc, TimeoutError):
        return DemoError("the demo did not finish in time")
    return exc


def browser_available() -> bool:
    """Tell whether the proxy could launch a browser here (else the demo approves itself)."""
    from ..auth.browser import SystemBrowser

    if sys.platform in ("darwin", "win32"):
        return True
    return any(True for _ in SystemBrowser().commands("https://example.invalid/"))


@dataclass
class Transcript:
    """Writes the narrated demo to stderr: one readable line per fact."""

    out: TextIO

    def say(self, who: str, text: str) -> None:
        """Print one line attributed to ``who`` (demo, proxy, auth server, MCP server)."""
        self.out.write(f"{who:>11} │ {text}\n")
        self.out.flush()


async def _serve(headless: bool, err: TextIO) -> None:
    from ..server import run_demo_servers

    t = Transcript(err)
    async with run_demo_servers(approval="auto" if headless else "consent") as demo:
        demo.events.subscribe(lambda e: t.say("server", e.describe()))
        snippet = {
            "mcpServers": {
                "oauth-demo": {"command": "uvx", "args": ["mcp-oauth2-proxy", demo.mcp_url]}
            }
        }
        t.say("demo", f"authorization server: {demo.issuer}")
        t.say("demo", f"protected MCP server: {demo.mcp_url}")
        t.say("demo", "add this to your MCP client's configuration, then start it:")
        err.write(json.dumps(snippet, indent=2) + "\n")
        t.say("demo", "serving until Ctrl-C")
        await anyio.sleep_forever()


async def _demo(headless: bool, limit_s: float, err: TextIO) -> None:
    from ..server import run_demo_servers

    t = Transcript(err)
    with anyio.fail_after(limit_s):
        async with run_demo_servers(approval="auto" if headless else "consent") as demo:
            demo.events.subscribe(lambda e: t.say(_server_name(e.server), e.describe()))
            t.say("demo", f"authorization server on {demo.issuer}")
            t.say("demo", f"OAuth-protected MCP server on {demo.mcp_url}")
            t.say("demo", f"starting: mcp-oauth2-proxy {demo.mcp_url}   (no OAuth settings)")
            if headless:
                t.say("demo", "headless: the login will be approved programmatically, no browser")
            else:
                t.say("demo", "your browser will open on the consent page: approve to continue")
            await _drive_proxy(demo.mcp_url, headless, t)


def _server_name(server: str) -> str:
    return {"auth": "auth server", "mcp": "MCP server"}.get(server, server)


def proxy_environment(base: Mapping[str, str], headless: bool) -> dict[str, str]:
    """The proxy's environment: the user's, minus any proxy settings, plus demo choices.

    Tokens stay in memory so the demo never touches the user's stored logins.
    """
    env = {k: v for k, v in base.items() if not k.startswith(_STRIPPED_ENV_PREFIXES)}
    env.update(
        LOG_LEVEL="info",
        LOG_FORMAT="json",
        OAUTH2_TOKEN_STORE="memory",  # noqa: S106 - a store name
        OAUTH2_CALLBACK_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    if headless:
        env["OAUTH2_OPEN_BROWSER"] = "false"
    return env


async def _drive_proxy(url: str, headless: bool, t: Transcript) -> None:
    env = proxy_environment(os.environ, headless)
    command = [sys.executable, "-m", "mcp_oauth2_proxy", url]
    async with await anyio.open_process(command, env=env) as proc, anyio.create_task_group() as tg:
        tg.start_soon(_narrate_stderr, proc, headless, t)
        client = _RpcClient(proc, t)
        tg.start_soon(client.read_stdout)
        await _conversation(client, t)
        assert proc.stdin is not None  # noqa: S101 - opened with a pipe above
        await proc.stdin.aclose()
        code = await proc.wait()
        t.say("demo", f"stdin closed: the proxy exited with code {code}")
        if code != 0:
            raise DemoError(f"the proxy exited with code {code}")
        t.say("demo", "done: discovery → registration → login → token → MCP calls all worked")


async def _conversation(client: _RpcClient, t: Transcript) -> None:
    init = await client.call(
        "initialize",
        {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-oauth2-proxy-demo", "version": "1"},
        },
    )
    info = init.get("serverInfo", {})
    t.say(
        "demo",
        f"initialized: {info.get('name')} {info.get('version')}, "
        f"protocol {init.get('protocolVersion')}",
    )
    await client.notify("notifications/initialized")
    tools = await client.call("tools/list", {})
    names = ", ".join(tool["name"] for tool in tools.get("tools", []))
    t.say("demo", f"tools/list: {names}")
    for name, arguments in (("whoami", {}), ("add", {"a": 2, "b": 40})):
        result = await client.call("tools/call", {"name": name, "arguments": arguments})
        t.say("demo", f"tools/call {name} → {_text_of(result)}")
    progress = await client.call(
        "tools/call",
        {
            "name": "slow_count",
            "arguments": {"count": 3, "interval_ms": 150},
            "_meta": {"progressToken": "demo"},
        },
    )
    t.say("demo", f"tools/call slow_count → {_text_of(progress)}")
    readme = await client.call("resources/read", {"uri": "demo://readme"})
    first = str(readme.get("contents", [{}])[0].get("text", "")).splitlines()[:1]
    t.say("demo", f"resources/read demo://readme → {first[0] if first else '(empty)'}")


def _text_of(result: Mapping[str, Any]) -> str:
    parts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
    return " ".join(parts) or json.dumps(result)


class _RpcClient:
    """Raw newline-delimited JSON-RPC over the proxy's stdio, as any MCP client does it."""

    def __init__(self, proc: Process, t: Transcript) -> None:
        self._proc = proc
        self._t = t
        self._next_id = 0
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        done, box = anyio.Event(), list[dict[str, Any]]()
        self._waiting[ident] = (done, box)
        await self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        await done.wait()
        if not box:
            raise DemoError(f"the proxy exited before answering {method}")
        reply = box[0]
        if "error" in reply:
            raise DemoError(f"{method} failed: {reply['error'].get('message')}")
        return dict(reply.get("result", {}))

    async def notify(self, method: str) -> None:
        await self._send({"jsonrpc": "2.0", "method": method})

    async def _send(self, message: Mapping[str, Any]) -> None:
        assert self._proc.stdin is not None  # noqa: S101 - opened with a pipe
        await self._proc.stdin.send((json.dumps(message) + "\n").encode())

    async def read_stdout(self) -> None:
        assert self._proc.stdout is not None  # noqa: S101 - opened with a pipe
        async for line in _lines(TextReceiveStream(self._proc.stdout)):
            message = json.loads(line)
            if message.get("method") == "notifications/progress":
                p = message.get("params", {})
                self._t.say("demo", f"progress {p.get('progress')}/{p.get('total')}")
            elif "id" in message and message["id"] in self._waiting:
                done, box = self._waiting.pop(message["id"])
                box.append(message)
                done.set()
        for done, _box in self._waiting.values():  # stdout closed: nobody will answer these
            done.set()


async def _lines(stream: TextReceiveStream) -> Any:
    buffer = ""
    async for chunk in stream:
        buffer += chunk
        *complete, buffer = buffer.split("\n")
        for line in complete:
            if line.strip():
                yield line


async def _narrate_stderr(proc: Process, headless: bool, t: Transcript) -> None:
    assert proc.stderr is not None  # noqa: S101 - opened with a pipe
    expect_url = False
    async for line in _lines(TextReceiveStream(proc.stderr)):
        text = line.strip()
        if LOGIN_MARKER in text:
            expect_url = True
            continue
        if headless and "no browser was opened" in text:
            continue  # the demo itself plays the browser, as announced
        if expect_url and text.startswith("http"):
            expect_url = False
            t.say("proxy", "printed the login URL (and would open a browser)")
            if headless:
                await _approve_in_place_of_a_browser(text, t)
            continue
        _narrate_log_line(text, t)


def _narrate_log_line(text: str, t: Transcript) -> None:
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        t.say("proxy", text)
        return
    name = event.get("event", "")
    if name in _SHOWN_PROXY_EVENTS:
        fields = {k: v for k, v in event.items() if k not in ("event", "level", "time")}
        shown = " ".join(f"{k}={v}" for k, v in fields.items())
        t.say("proxy", f"{_SHOWN_PROXY_EVENTS[name]}  {shown}".rstrip())
    elif event.get("level") in ("warn", "error", "fatal"):
        t.say("proxy", f"{event.get('level')}: {name} {event.get('error', '')}".rstrip())


async def _approve_in_place_of_a_browser(url: str, t: Transcript) -> None:
    """Do what the user's browser would: open the URL and follow the redirect home."""
    t.say("demo", "opening the login URL headlessly; the server approves the consent")
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=30) as http:
        page = await http.get(url)
    t.say("demo", f"the proxy's callback page answered {page.status_code}")


__all__ = ["DemoError", "browser_available", "build_parser", "proxy_environment", "run"]
