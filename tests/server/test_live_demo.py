"""The composed demo on real loopback sockets, driven by httpx and by the official MCP SDK."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mcp_oauth2_proxy.server import run_demo_servers

from .flows import MCP_HEADERS, initialize_message, new_pkce, rpc

pytestmark = pytest.mark.anyio


async def test_the_demo_servers_answer_every_hop_of_a_zero_configuration_login() -> None:
    async with (
        run_demo_servers(host="127.0.0.1") as demo,
        httpx.AsyncClient(timeout=10) as http,
    ):
        assert demo.mcp_url.startswith("http://127.0.0.1:")
        assert demo.issuer.startswith("http://127.0.0.1:")
        assert demo.issuer.rsplit(":", 1)[1] != demo.mcp_url.split(":")[2].split("/")[0]

        probe = await http.post(demo.mcp_url, json=initialize_message(), headers=MCP_HEADERS)
        assert probe.status_code == 401
        prm_url = probe.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
        prm = (await http.get(prm_url)).json()
        assert prm["resource"] == demo.mcp_url
        (issuer,) = prm["authorization_servers"]
        meta = (await http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
        redirect_uri = "http://127.0.0.1:1/callback"
        client = (
            await http.post(
                meta["registration_endpoint"],
                json={
                    "redirect_uris": [redirect_uri],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                },
            )
        ).json()
        pkce = new_pkce()
        authorize = await http.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": redirect_uri,
                "code_challenge": pkce.challenge,
                "code_challenge_method": "S256",
                "scope": prm["scopes_supported"][0],
                "resource": prm["resource"],
                "state": "s",
            },
        )
        code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
        tokens = (
            await http.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": pkce.verifier,
                    "client_id": client["client_id"],
                    "resource": prm["resource"],
                },
            )
        ).json()
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
        init = await http.post(demo.mcp_url, json=initialize_message(), headers=headers)
        headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
        call = await http.post(
            demo.mcp_url,
            json=rpc("tools/call", 2, name="add", arguments={"a": 1, "b": 2}),
            headers=headers,
        )
        assert call.json()["result"]["structuredContent"] == {"sum": 3}

    hops = [e.describe() for e in demo.events.events]
    assert hops[0].startswith("mcp: POST /mcp -> 401")
    assert [e.path for e in demo.events.matching(server="auth")] == [
        "/.well-known/oauth-authorization-server",
        "/register",
        "/authorize",
        "/token",
    ]
    assert tokens["access_token"] not in repr(demo.events.events)


async def test_the_official_mcp_sdk_client_logs_in_and_calls_tools() -> None:
    httpx2 = pytest.importorskip("httpx2")
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    class MemoryStorage:
        def __init__(self) -> None:
            self.tokens: Any = None
            self.client: Any = None

        async def get_tokens(self) -> Any:
            return self.tokens

        async def set_tokens(self, tokens: Any) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> Any:
            return self.client

        async def set_client_info(self, client_info: Any) -> None:
            self.client = client_info

    redirected: list[str] = []

    async def headless_browser(url: str) -> None:
        # The demo's auto-approval answers the authorization request with the redirect.
        async with httpx.AsyncClient() as browser:
            redirected.append((await browser.get(url)).headers["location"])

    async def callback() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirected[-1]).query).items()}
        return AuthorizationCodeResult(code=query["code"], state=query["state"], iss=query["iss"])

    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with run_demo_servers() as demo:
        storage = MemoryStorage()
        provider = OAuthClientProvider(
            server_url=demo.mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="sdk test",
                redirect_uris=["http://127.0.0.1:1/callback"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=headless_browser,
            callback_handler=callback,
        )
        async with (
            httpx2.AsyncClient(auth=provider, timeout=10) as client,
            streamable_http_client(demo.mcp_url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            assert [t.name for t in tools.tools][:2] == ["echo", "add"]
            result = await session.call_tool("echo", {"text": "through OAuth"})
            assert result.content[0].text == "through OAuth"  # type: ignore[union-attr]
            counted = await session.call_tool(
                "slow_count", {"count": 3, "interval_ms": 0}, progress_callback=on_progress
            )
            assert counted.structured_content == {"count": 3}
            resource = await session.read_resource("demo://readme")  # type: ignore[arg-type]
            assert "demo server" in resource.contents[0].text  # type: ignore[union-attr]
        assert storage.tokens.refresh_token
    assert progress == [1, 2, 3]
    assert any(e.path == "/register" and e.status == 201 for e in demo.events.events)


async def test_a_client_that_drops_a_progress_stream_stops_the_tool_on_the_server() -> None:
    import anyio

    async with run_demo_servers(approval="auto") as demo, httpx.AsyncClient(timeout=10) as http:
        async with httpx.AsyncClient(base_url=demo.issuer) as auth:
            from . import flows

            client_id = (await flows.register(auth))["client_id"]
            pkce = new_pkce()
            params = flows.authorize_params(client_id, pkce, resource=demo.mcp_url)
            code = flows.redirect_query(await auth.get("/authorize", params=params))["code"]
            tokens = (
                await flows.token(
                    auth,
                    {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": flows.REDIRECT_URI,
                        "code_verifier": pkce.verifier,
                        "client_id": client_id,
                    },
                )
            ).json()
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
        init = await http.post(demo.mcp_url, json=initialize_message(), headers=headers)
        session_id = init.headers["mcp-session-id"]
        headers["Mcp-Session-Id"] = session_id
        finished = anyio.Event()
        demo.events.subscribe(
            lambda e: finished.set() if e.detail.get("rpc") == "tools/call slow_count" else None
        )
        message = rpc(
            "tools/call",
            2,
            name="slow_count",
            arguments={"count": 100, "interval_ms": 1},
            _meta={"progressToken": "t"},
        )
        async with http.stream("POST", demo.mcp_url, json=message, headers=headers) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    break  # first progress notification seen; hang up
        with anyio.fail_after(5):
            await finished.wait()
        assert demo.mcp.sessions[session_id].inflight == {}
