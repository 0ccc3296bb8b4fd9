from __future__ import annotations

import re

import httpx
import pytest

from mcp_oauth2_proxy.server import DemoServers, FakeClock

from .flows import ISSUER, MCP_URL, register, token

pytestmark = pytest.mark.anyio
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def start(auth: httpx.AsyncClient) -> tuple[str, dict[str, object]]:
    client_id = (
        await register(auth, grant_types=[DEVICE_GRANT, "refresh_token"], redirect_uris=[])
    )["client_id"]
    response = await auth.post(
        "/device_authorization",
        data={"client_id": client_id, "scope": "mcp offline_access", "resource": MCP_URL},
    )
    assert response.status_code == 200, response.text
    return client_id, response.json()


def poll_form(client_id: str, device: dict[str, object]) -> dict[str, str]:
    return {
        "grant_type": DEVICE_GRANT,
        "device_code": str(device["device_code"]),
        "client_id": client_id,
    }


async def test_device_authorization_returns_codes_and_verification_uris(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    _, device = await start(auth)
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", str(device["user_code"]))
    assert device["verification_uri"] == ISSUER + "/device"
    assert device["verification_uri_complete"] == f"{ISSUER}/device?user_code={device['user_code']}"
    assert device["interval"] == 5
    assert device["expires_in"] == 600


async def test_polling_too_fast_slows_down_then_pending_then_tokens_after_approval(
    demo: DemoServers, auth: httpx.AsyncClient, clock: FakeClock
) -> None:
    demo.set_approval("consent")
    client_id, device = await start(auth)
    form = poll_form(client_id, device)
    assert (await token(auth, form)).json()["error"] == "authorization_pending"
    clock.advance(1)
    slow = await token(auth, form)
    assert slow.status_code == 400
    assert slow.json()["error"] == "slow_down"
    clock.advance(6)  # the interval is now 10 seconds
    assert (await token(auth, form)).json()["error"] == "slow_down"
    clock.advance(15)
    assert (await token(auth, form)).json()["error"] == "authorization_pending"
    assert await demo.auth.approve_device(str(device["user_code"]).lower().replace("-", " "))
    clock.advance(15)
    tokens = await token(auth, form)
    assert tokens.status_code == 200
    assert tokens.json()["refresh_token"]
    info = await demo.auth.verifier().verify(tokens.json()["access_token"])
    assert info is not None
    assert info.resources == (MCP_URL,)
    clock.advance(15)
    assert (await token(auth, form)).json()["error"] == "invalid_grant"


async def test_the_verification_page_approves_with_its_form_token(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client_id, device = await start(auth)
    entry = await auth.get("/device")
    assert "user_code" in entry.text
    page = await auth.get("/device", params={"user_code": device["user_code"]})
    assert page.status_code == 200
    assert "Approve" in page.text
    fields = dict(re.findall(r"name='(consent|csrf)' value='([^']+)'", page.text))
    done = await auth.post("/device/decision", data={**fields, "decision": "approve"})
    assert done.status_code == 200
    assert "Device approved" in done.text
    assert (await token(auth, poll_form(client_id, device))).status_code == 200


async def test_denial_on_the_verification_page_is_access_denied(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client_id, device = await start(auth)
    page = await auth.get("/device", params={"user_code": device["user_code"]})
    fields = dict(re.findall(r"name='(consent|csrf)' value='([^']+)'", page.text))
    await auth.post("/device/decision", data={**fields, "decision": "deny"})
    assert (await token(auth, poll_form(client_id, device))).json()["error"] == "access_denied"


async def test_an_unknown_user_code_shows_the_entry_form_again(auth: httpx.AsyncClient) -> None:
    page = await auth.get("/device", params={"user_code": "BBBB-BBBB"})
    assert page.status_code == 400
    assert "unknown or expired" in page.text


async def test_device_codes_expire(
    demo: DemoServers, auth: httpx.AsyncClient, clock: FakeClock
) -> None:
    demo.set_approval("consent")
    client_id, device = await start(auth)
    clock.advance(601)
    assert (await token(auth, poll_form(client_id, device))).json()["error"] == "expired_token"
    assert not await demo.auth.approve_device(str(device["user_code"]))


async def test_auto_approval_lets_the_first_poll_succeed(auth: httpx.AsyncClient) -> None:
    client_id, device = await start(auth)
    assert (await token(auth, poll_form(client_id, device))).status_code == 200


async def test_clients_not_registered_for_the_device_grant_are_refused(
    auth: httpx.AsyncClient,
) -> None:
    client_id = (await register(auth))["client_id"]
    response = await auth.post("/device_authorization", data={"client_id": client_id})
    assert response.json()["error"] == "unauthorized_client"
