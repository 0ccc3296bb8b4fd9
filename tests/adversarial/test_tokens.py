"""Tokens under attack: they go only where they belong, and hostile token endpoints fail cleanly."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mcp_oauth2_proxy.auth import create_auth
from mcp_oauth2_proxy.auth.grants import parse_token_response
from mcp_oauth2_proxy.auth.manager import REJECTION_COOLDOWN_SECONDS, RejectionBudget
from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.errors import AuthError
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport
from tests.integration.helpers import INITIALIZE, INITIALIZED, Sink, request, running
from tests.support.auth_helpers import FakeClock, FollowingBrowser, make_settings
from tests.support.oauth_server import RESOURCE, FakeAuthServer

from .conftest import stdout_lines_are_jsonrpc

pytestmark = pytest.mark.anyio
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


class Router(httpx.AsyncBaseTransport):
    """Route ``/mcp`` to an override, the rest to the test server; record every request."""

    def __init__(
        self, app: httpx.AsyncBaseTransport, mcp: Callable[[httpx.Request], httpx.Response] | None
    ) -> None:
        self.app = app
        self.mcp = mcp
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        if self.mcp is not None and request.url.host == "mcp.test" and request.url.path == "/mcp":
            return self.mcp(request)
        if request.url.host not in ("mcp.test", "auth.test"):
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {}})
        return await self.app.handle_async_request(request)

    def carrying(self, secret: str) -> list[httpx.Request]:
        return [
            r for r in self.requests if secret in str(r.url) + str(r.headers) + r.content.decode()
        ]


def world(
    server: FakeAuthServer, mcp: Callable[[httpx.Request], httpx.Response] | None = None
) -> tuple[Router, httpx.AsyncClient]:
    router = Router(httpx.ASGITransport(app=server.app()), mcp)
    return router, httpx.AsyncClient(transport=router, follow_redirects=False)


async def test_a_full_session_sends_the_bearer_token_only_to_the_upstream_origin() -> None:
    server = FakeAuthServer()
    router, http = world(server)
    clock = FakeClock()
    async with http:
        browser = FollowingBrowser(http)
        session = await create_auth(
            make_settings(), http, opener=browser, clock=clock, stderr=io.StringIO()
        )
        http.auth = session.auth
        sink = Sink()
        bridge = Bridge(
            StreamableHttpTransport(http, RESOURCE, timeout_s=5), sink, open_server_stream=False
        )
        async with running(bridge) as client:
            await session.prefetch()
            await browser.settle()
            for line in (INITIALIZE, INITIALIZED, request(1, "tools/list")):
                await client.send(line)
            await sink.wait_for(2)
            server.expire_access_tokens()  # 401 → refresh → retry
            await client.send(request(2, "tools/call", name="x"))
            await sink.wait_for(3)
            clock.advance(4000)  # expiry → proactive refresh
            await client.send(request(3, "tools/call", name="y"))
            await sink.wait_for(4)
        await http.get("https://elsewhere.test/mcp")  # same client, another origin
        await http.get("https://mcp.test.attacker.test/mcp")
    stdout_lines_are_jsonrpc(sink.raw)
    assert all("result" in m for m in sink.messages)
    access = set(server.access_tokens) | {
        r.headers["authorization"][7:]
        for r in router.requests
        if "authorization" in r.headers and r.headers["authorization"].startswith("Bearer ")
    }
    assert len(access) >= 3
    for r in router.requests:
        if r.headers.get("authorization", "").startswith("Bearer "):
            assert (r.url.scheme, r.url.host, r.url.port) == ("https", "mcp.test", None), r.url
    for token in access:
        for r in router.carrying(token):
            assert r.url.host == "mcp.test"
    refresh = [f["refresh_token"] for f in server.token_requests if "refresh_token" in f]
    for token in refresh:
        for r in router.carrying(token):
            assert (r.url.host, r.url.path) == ("auth.test", "/token")


@pytest.mark.parametrize(
    "location",
    [
        "https://attacker.test/mcp",
        "http://mcp.test/mcp",  # https → http downgrade
        "https://mcp.test:8443/mcp",
        "//attacker.test/mcp",
        "https://mcp.test@attacker.test/mcp",
    ],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_away_from_the_upstream_never_carries_the_token(
    location: str, status: int
) -> None:
    server = FakeAuthServer()
    seed = server.issue_refresh_token()

    def redirect(r: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Location": location})

    router, http = world(server, redirect)
    async with http:
        settings = make_settings(refreshToken=seed, interactive=False)
        session = await create_auth(settings, http, clock=FakeClock(), stderr=io.StringIO())
        http.auth = session.auth
        sink = Sink()
        bridge = Bridge(
            StreamableHttpTransport(http, RESOURCE, timeout_s=5), sink, open_server_stream=False
        )
        async with running(bridge) as client:
            await client.send(request(7, "tools/call", name="x"))
            [answer] = await sink.wait_for(1)
    assert answer["id"] == 7
    assert answer["error"]["code"] in (-32000, -32001)
    assert {r.url.host for r in router.requests} <= {"mcp.test", "auth.test"}
    assert all(r.url.port is None and r.url.scheme == "https" for r in router.requests)


async def test_the_token_is_stripped_from_requests_to_any_other_origin() -> None:
    server = FakeAuthServer()
    router, http = world(server)
    async with http:
        settings = make_settings(refreshToken=server.issue_refresh_token(), interactive=False)
        session = await create_auth(settings, http, clock=FakeClock(), stderr=io.StringIO())
        for url in (
            "https://mcp.test/mcp",
            "https://other.test/mcp",
            "http://mcp.test/mcp",
            "https://mcp.test:444/mcp",
            "https://MCP.TEST/other-path",
        ):
            await http.post(
                url, content=PING, auth=session.auth, headers={"Authorization": "Bearer planted"}
            )
    by_url = {str(r.url): r.headers.get("authorization") for r in router.requests}
    assert by_url["https://mcp.test/mcp"].startswith("Bearer at-")
    assert by_url["https://other.test/mcp"] is None
    assert by_url["http://mcp.test/mcp"] is None
    assert by_url["https://mcp.test:444/mcp"] is None
    assert by_url["https://mcp.test/other-path"].startswith("Bearer at-")  # same origin


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (None, None),
        ("abc", None),
        (-1, None),
        (0, None),
        (True, None),
        ([3600], None),
        ("3600", 4600.0),
        (3600.0, 4600.0),
        (10**400, 1000.0 + 10 * 365 * 24 * 3600),
        (1e308, 1000.0 + 10 * 365 * 24 * 3600),
        ("١٢", None),  # non-ASCII digits
    ],
)
def test_anomalous_expires_in_never_fails_the_login_or_overflows(
    expires_in: Any, expected: float | None
) -> None:
    payload: dict[str, Any] = {"access_token": "at-1", "token_type": "Bearer"}
    if expires_in is not None:
        payload["expires_in"] = expires_in
    body = (
        json.dumps(payload).encode()
        if expires_in != 10**400
        else (b'{"access_token":"at-1","token_type":"Bearer","expires_in":1' + b"0" * 400 + b"}")
    )
    tokens = parse_token_response(200, "application/json", body, now=1000.0)
    assert tokens.access_token == "at-1"
    assert tokens.expires_at == expected


async def test_a_token_without_a_lifetime_is_used_until_rejected_not_refreshed_each_time() -> None:
    server = FakeAuthServer()
    seed = server.issue_refresh_token()
    _, http = world(server)
    server.token_ttl = 0  # the server answers expires_in: 0
    async with http:
        settings = make_settings(refreshToken=seed, interactive=False)
        session = await create_auth(settings, http, clock=FakeClock(), stderr=io.StringIO())
        for _ in range(5):
            await http.post(RESOURCE, content=PING, auth=session.auth)
    assert len(server.token_requests) == 1


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A", "bearer-ish", ""])
def test_a_token_type_other_than_bearer_is_refused_by_name(token_type: str) -> None:
    body = json.dumps({"access_token": "at", "token_type": token_type}).encode()
    with pytest.raises(AuthError, match="only Bearer"):
        parse_token_response(200, "application/json", body, now=0)


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER"])
def test_bearer_is_accepted_in_any_case(token_type: str) -> None:
    body = json.dumps({"access_token": "at", "token_type": token_type}).encode()
    assert parse_token_response(200, "application/json", body, now=0).access_token == "at"


@pytest.mark.parametrize("access_token", ["at\r\nX-Injected: 1", "at\n", "tök", "a b", "\x00"])
def test_an_access_token_that_cannot_be_a_header_value_is_refused(access_token: str) -> None:
    body = json.dumps({"access_token": access_token, "token_type": "Bearer"}).encode()
    with pytest.raises(AuthError, match="usable access_token"):
        parse_token_response(200, "application/json", body, now=0)


@pytest.mark.parametrize(
    "body",
    [b"[" * 300_000 + b"]" * 300_000, b'{"error":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["nested-array", "nested-error"],
)
def test_a_deeply_nested_token_response_is_a_clean_auth_error(body: bytes) -> None:
    with pytest.raises(AuthError):
        parse_token_response(400, "application/json", body, now=0)
    with pytest.raises(AuthError):
        parse_token_response(200, "application/json", body, now=0)


async def test_token_endpoint_errors_that_echo_secrets_are_masked_and_truncated(
    log_stream: io.StringIO,
) -> None:
    server = FakeAuthServer(client_secret="s3cr3t-client-secret")
    seed = server.issue_refresh_token()
    server.fail_token_endpoint(
        "invalid_request",
        error_description=(
            f"bad refresh_token {seed} for client secret s3cr3t-client-secret \x1b[2J\r\n"
            + "padding " * 20_000
        ),
    )
    _, http = world(server)
    async with http:
        settings = make_settings(
            refreshToken=seed, interactive=False, clientSecret="s3cr3t-client-secret"
        )
        session = await create_auth(settings, http, clock=FakeClock(), stderr=io.StringIO())
        http.auth = session.auth
        sink = Sink()
        bridge = Bridge(
            StreamableHttpTransport(http, RESOURCE, timeout_s=5), sink, open_server_stream=False
        )
        async with running(bridge) as client:
            await client.send(request(1, "tools/call", name="x"))
            [answer] = await sink.wait_for(1)
    reply = json.dumps(answer)
    assert answer["error"]["code"] == -32000
    assert "invalid_request" in reply
    assert len(reply) < 2000
    for text in (reply, log_stream.getvalue()):
        assert seed not in text
        assert "s3cr3t-client-secret" not in text
        assert "\x1b" not in text
        assert "\\u001b" not in text


class AlwaysRejecting(FakeAuthServer):
    """An upstream that accepts no token at all (wrong audience, say)."""

    def _access_valid(self, token: str) -> bool:  # noqa: ARG002 - the overridden signature
        return False


@pytest.mark.parametrize("with_refresh_token", [True, False])
async def test_an_upstream_rejecting_every_token_gets_one_refresh_one_login_then_errors(
    with_refresh_token: bool,
) -> None:
    server = AlwaysRejecting()
    _, http = world(server)
    clock = FakeClock()
    async with http:
        browser = FollowingBrowser(http)
        extra = {"refreshToken": server.issue_refresh_token()} if with_refresh_token else {}
        session = await create_auth(
            make_settings(**extra), http, opener=browser, clock=clock, stderr=io.StringIO()
        )
        http.auth = session.auth
        sink = Sink()
        bridge = Bridge(
            StreamableHttpTransport(http, RESOURCE, timeout_s=5), sink, open_server_stream=False
        )
        async with running(bridge) as client:
            for i in range(1, 11):
                await client.send(request(i, "tools/call", name="x"))
                await sink.wait_for(i)
                await browser.settle()
        logins_during_run = len(browser.urls)
        refreshes = sum(f.get("grant_type") == "refresh_token" for f in server.token_requests)
        token_requests = len(server.token_requests)
    answers = stdout_lines_are_jsonrpc(sink.raw)
    assert [a["id"] for a in answers] == list(range(1, 11))
    assert all("error" in a for a in answers)
    assert answers[-1]["error"]["code"] == -32000
    assert "does not accept tokens" in answers[-1]["error"]["message"]
    assert logins_during_run <= (1 if with_refresh_token else 2)
    assert refreshes <= (2 if with_refresh_token else 1)
    assert token_requests <= 3


def test_the_rejection_streak_cools_down_so_a_temporary_outage_heals() -> None:
    budget = RejectionBudget(rejected=2, refreshed=True, logged_in=True)
    with pytest.raises(AuthError, match="does not accept tokens"):
        budget.spend_login(now=100.0)
    with pytest.raises(AuthError):
        budget.check(now=100.0 + REJECTION_COOLDOWN_SECONDS - 1)
    budget.check(now=100.0 + REJECTION_COOLDOWN_SECONDS)
    assert not budget.active


async def test_a_refresh_token_stored_for_one_resource_is_never_used_for_another() -> None:
    from mcp_oauth2_proxy.auth.store import MemoryStore

    server = FakeAuthServer()
    store = MemoryStore()
    _, http = world(server)
    async with http:
        first = await create_auth(
            make_settings(refreshToken=server.issue_refresh_token(), interactive=False),
            http,
            store=store,
            clock=FakeClock(),
            stderr=io.StringIO(),
        )
        await first.prefetch()
        [stored] = [e["refresh_token"] for e in store.entries.values()]
        other = await create_auth(
            make_settings(resource="https://mcp.test/other", interactive=False),
            http,
            store=store,
            clock=FakeClock(),
            stderr=io.StringIO(),
        )
        with pytest.raises(AuthError, match="log in"):
            await other.prefetch()
    assert [f for f in server.token_requests if f.get("refresh_token") == stored] == []
