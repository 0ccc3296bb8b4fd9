from __future__ import annotations

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.server import (
    DemoServers,
    Failure,
    FakeClock,
    RegisteredClient,
    build_demo_servers,
)

from .flows import ISSUER, MCP_URL, login, register, token

pytestmark = pytest.mark.anyio


def refresh_form(tokens: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": tokens["client_id"],
        **extra,
    }


async def test_refresh_rotates_the_refresh_token_and_keeps_the_resource(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    first = await login(auth)
    response = await token(auth, refresh_form(first, resource=MCP_URL))
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    info = await demo.auth.verifier().verify(second["access_token"])
    assert info is not None
    assert info.resources == (MCP_URL,)


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    first = await login(auth)
    second = {**(await token(auth, refresh_form(first))).json(), "client_id": first["client_id"]}
    reuse = await token(auth, refresh_form(first))
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    after = await token(auth, refresh_form(second))
    assert after.json()["error"] == "invalid_grant"
    assert await demo.auth.verifier().verify(second["access_token"]) is None


async def test_reuse_detection_can_be_switched_off() -> None:
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, auth_overrides={"revoke_grant_on_refresh_reuse": False}
    )
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
        first = await login(auth)
        second = {
            **(await token(auth, refresh_form(first))).json(),
            "client_id": first["client_id"],
        }
        assert (await token(auth, refresh_form(first))).json()["error"] == "invalid_grant"
        assert (await token(auth, refresh_form(second))).status_code == 200


async def test_without_rotation_the_same_refresh_token_keeps_working() -> None:
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, auth_overrides={"rotate_refresh_tokens": False}
    )
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
        first = await login(auth)
        for _ in range(3):
            response = await token(auth, refresh_form(first))
            assert response.status_code == 200
            assert "refresh_token" not in response.json()


async def test_concurrent_refreshes_with_one_token_succeed_only_once(
    auth: httpx.AsyncClient,
) -> None:
    first = await login(auth)
    statuses: list[int] = []

    async def refresh() -> None:
        statuses.append((await token(auth, refresh_form(first))).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(refresh)
    assert sorted(statuses) == [200, 400, 400, 400, 400]


async def test_refresh_may_narrow_but_not_widen_the_scope(auth: httpx.AsyncClient) -> None:
    first = await login(auth)
    narrowed = await token(auth, refresh_form(first, scope="mcp"))
    assert narrowed.json()["scope"] == "mcp"
    widened = await token(
        auth,
        refresh_form(
            {**narrowed.json(), "client_id": first["client_id"]}, scope="mcp offline_access admin"
        ),
    )
    assert widened.json()["error"] == "invalid_scope"


async def test_refresh_for_another_resource_is_an_invalid_target(auth: httpx.AsyncClient) -> None:
    first = await login(auth)
    response = await token(auth, refresh_form(first, resource="https://other.example/mcp"))
    assert response.json()["error"] == "invalid_target"


async def test_refresh_tokens_expire(clock: FakeClock) -> None:
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, clock=clock, auth_overrides={"refresh_token_ttl": 100}
    )
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
        first = await login(auth)
        clock.advance(101)
        assert (await token(auth, refresh_form(first))).json()["error"] == "invalid_grant"


async def test_access_tokens_expire_after_their_configured_lifetime(clock: FakeClock) -> None:
    demo = build_demo_servers(
        issuer=ISSUER, mcp_url=MCP_URL, clock=clock, auth_overrides={"access_token_ttl": 1}
    )
    transport = httpx.ASGITransport(app=demo.auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as auth:
        tokens = await login(auth)
    assert tokens["expires_in"] == 1
    assert await demo.auth.verifier().verify(tokens["access_token"]) is not None
    clock.advance(1)
    assert await demo.auth.verifier().verify(tokens["access_token"]) is None


async def test_a_refresh_token_of_another_client_is_refused(auth: httpx.AsyncClient) -> None:
    first = await login(auth)
    other = (await register(auth))["client_id"]
    response = await token(auth, refresh_form({**first, "client_id": other}))
    assert response.json()["error"] == "invalid_grant"


async def test_client_credentials_with_basic_authentication(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    client = await register(
        auth,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=[],
    )
    response = await token(
        auth,
        {"grant_type": "client_credentials", "scope": "mcp", "resource": MCP_URL},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    info = await demo.auth.verifier().verify(body["access_token"])
    assert info is not None
    assert info.subject == client["client_id"]


async def test_client_secrets_with_reserved_characters_are_form_decoded_in_basic(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    await demo.auth.clients.add(
        RegisteredClient(
            client_id="svc:one",
            client_secret="p@ss:w/rd+",
            grant_types=frozenset({"client_credentials"}),
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    # RFC 6749 §2.3.1: id and secret are form-encoded before Base64.
    response = await token(
        auth, {"grant_type": "client_credentials"}, auth=("svc%3Aone", "p%40ss%3Aw%2Frd%2B")
    )
    assert response.status_code == 200


async def test_client_credentials_with_post_authentication(auth: httpx.AsyncClient) -> None:
    client = await register(
        auth,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_post",
        redirect_uris=[],
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    assert (await token(auth, form)).status_code == 200


async def test_wrong_secret_or_wrong_method_is_invalid_client_with_401(
    auth: httpx.AsyncClient,
) -> None:
    client = await register(
        auth,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=[],
    )
    wrong = await token(auth, {"grant_type": "client_credentials"}, auth=(client["client_id"], "x"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    as_post = await token(
        auth,
        {
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert as_post.status_code == 401


async def test_public_clients_cannot_use_client_credentials(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    response = await token(auth, {"grant_type": "client_credentials", "client_id": client_id})
    assert response.json()["error"] == "unauthorized_client"


async def test_unknown_grant_types_and_repeated_parameters_are_refused(
    auth: httpx.AsyncClient,
) -> None:
    client_id = (await register(auth))["client_id"]
    unknown = await token(auth, {"grant_type": "password", "client_id": client_id})
    assert unknown.json()["error"] == "unsupported_grant_type"
    repeated = await auth.post(
        "/token",
        content=f"grant_type=refresh_token&grant_type=refresh_token&client_id={client_id}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"
    as_json = await auth.post("/token", json={"grant_type": "client_credentials"})
    assert as_json.json()["error"] == "invalid_request"


async def test_revoking_a_refresh_token_ends_its_grant(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    response = await auth.post(
        "/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": tokens["client_id"],
        },
    )
    assert response.status_code == 200
    assert (await token(auth, refresh_form(tokens))).json()["error"] == "invalid_grant"
    assert await demo.auth.verifier().verify(tokens["access_token"]) is None


async def test_revoking_an_access_token_leaves_the_refresh_token_usable(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    form = {"token": tokens["access_token"], "client_id": tokens["client_id"]}
    assert (await auth.post("/revoke", data=form)).status_code == 200
    assert await demo.auth.verifier().verify(tokens["access_token"]) is None
    assert (await token(auth, refresh_form(tokens))).status_code == 200


async def test_revoking_an_unknown_token_succeeds_quietly(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    response = await auth.post("/revoke", data={"token": "nope", "client_id": client_id})
    assert response.status_code == 200


async def test_injected_failures_hit_the_next_matching_token_request_only(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    demo.failures.fail_next("token", Failure.oauth("invalid_grant"), grant_type="refresh_token")
    failed = await token(auth, refresh_form(tokens))
    assert failed.status_code == 400
    assert failed.json() == {"error": "invalid_grant"}
    assert (await token(auth, refresh_form(tokens))).status_code == 200
    demo.failures.fail_next("token", Failure.server_error())
    assert (await token(auth, {"grant_type": "refresh_token"})).status_code == 500
    assert demo.failures.pending("token") == 0


async def test_a_held_token_request_answers_once_released(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    release = anyio.Event()
    demo.failures.fail_next("token", Failure.held(release))
    results: list[int] = []

    async def refresh() -> None:
        results.append((await token(auth, refresh_form(tokens))).status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(refresh)
        await anyio.wait_all_tasks_blocked()
        assert results == []
        release.set()
    assert results == [200]


async def test_the_event_log_shows_each_hop_with_secrets_redacted(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    events = demo.events.events
    assert [(e.method, e.path, e.status) for e in events] == [
        ("POST", "/register", 201),
        ("GET", "/authorize", 302),
        ("POST", "/token", 200),
    ]
    text = repr(events)
    assert tokens["access_token"] not in text
    assert tokens["refresh_token"] not in text
    assert events[2].detail["grant_type"] == "authorization_code"
    assert events[1].detail["consent"] == "approved by policy"
    assert events[2].describe().startswith("auth: POST /token -> 200")
