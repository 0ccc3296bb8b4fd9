from __future__ import annotations

import re

import httpx
import pytest

from mcp_oauth2_proxy.server import DemoServers, FakeClock

from .flows import (
    ISSUER,
    MCP_URL,
    REDIRECT_URI,
    authorize_params,
    get_code,
    login,
    new_pkce,
    redirect_query,
    register,
    token,
)

pytestmark = pytest.mark.anyio


def code_form(client_id: str, code: str, verifier: str, **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    form.update(extra)
    return form


async def test_auto_approval_redirects_with_code_state_and_iss(auth: httpx.AsyncClient) -> None:
    client = await register(auth)
    response = await auth.get(
        "/authorize", params=authorize_params(client["client_id"], new_pkce())
    )
    query = redirect_query(response)
    assert query["state"] == "state-123"
    assert query["iss"] == ISSUER
    assert query["code"]
    assert response.headers["cache-control"] == "no-store"


async def test_code_exchange_returns_bearer_tokens_bound_to_the_resource(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    tokens = await login(auth)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "mcp offline_access"
    assert tokens["refresh_token"]
    info = await demo.auth.verifier().verify(tokens["access_token"])
    assert info is not None
    assert info.resources == (MCP_URL,)
    assert info.subject == "demo-user"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "mcp admin"}, "invalid_scope"),
        ({"resource": "relative/path"}, "invalid_target"),
        ({"resource": "https://other.example/mcp"}, "invalid_target"),
    ],
)
async def test_bad_authorization_requests_are_redirected_back_with_an_error(
    auth: httpx.AsyncClient, extra: dict[str, str], error: str
) -> None:
    client = await register(auth)
    response = await auth.get(
        "/authorize", params=authorize_params(client["client_id"], new_pkce(), **extra)
    )
    query = redirect_query(response)
    assert query["error"] == error
    assert query["state"] == "state-123"
    assert query["iss"] == ISSUER
    assert "code" not in query


@pytest.mark.parametrize(
    "extra",
    [{"client_id": "nobody"}, {"redirect_uri": "http://127.0.0.1:1/elsewhere"}],
)
async def test_unknown_client_or_redirect_uri_shows_an_error_page_instead_of_redirecting(
    auth: httpx.AsyncClient, extra: dict[str, str]
) -> None:
    client = await register(auth)
    params = authorize_params(client["client_id"], new_pkce())
    params.update(extra)
    response = await auth.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


async def test_wrong_verifier_is_rejected(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    code = await get_code(auth, client_id, new_pkce())
    response = await token(auth, code_form(client_id, code, new_pkce().verifier))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_missing_verifier_is_an_invalid_request(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    code = await get_code(auth, client_id, new_pkce())
    form = code_form(client_id, code, "")
    response = await token(auth, form)
    assert response.json()["error"] == "invalid_request"


async def test_a_code_is_single_use_and_its_replay_revokes_the_first_tokens(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    client_id = (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    first = await token(auth, code_form(client_id, code, pkce.verifier))
    assert first.status_code == 200
    replay = await token(auth, code_form(client_id, code, pkce.verifier))
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert await demo.auth.verifier().verify(first.json()["access_token"]) is None


async def test_a_code_expires(clock: FakeClock, auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    clock.advance(61)
    response = await token(auth, code_form(client_id, code, pkce.verifier))
    assert response.json()["error"] == "invalid_grant"


async def test_a_code_is_bound_to_its_client_and_redirect_uri(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    other_id = (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    assert (await token(auth, code_form(other_id, code, pkce.verifier))).json()[
        "error"
    ] == "invalid_grant"
    code = await get_code(auth, client_id, pkce)
    form = code_form(client_id, code, pkce.verifier, redirect_uri="http://127.0.0.1:9/callback")
    assert (await token(auth, form)).json()["error"] == "invalid_grant"


async def test_the_token_request_cannot_switch_to_another_resource(auth: httpx.AsyncClient) -> None:
    client_id = (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    form = code_form(client_id, code, pkce.verifier, resource="https://other.example/mcp")
    response = await token(auth, form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


async def test_without_a_resource_the_token_is_bound_to_the_default_resource(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    client_id = (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce, resource="")
    tokens = (await token(auth, code_form(client_id, code, pkce.verifier))).json()
    info = await demo.auth.verifier().verify(tokens["access_token"])
    assert info is not None
    assert info.resources == (MCP_URL,)


async def test_the_consent_page_is_escaped_uncached_unframeable_and_approves_with_its_form_token(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client = await register(auth, client_name="<script>alert(1)</script>")
    page = await auth.get("/authorize", params=authorize_params(client["client_id"], new_pkce()))
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:53682" in csp
    fields = dict(re.findall(r"name='(consent|csrf)' value='([^']+)'", page.text))
    response = await auth.post("/authorize/decision", data={**fields, "decision": "approve"})
    assert response.status_code == 303
    assert redirect_query(response)["code"]
    again = await auth.post("/authorize/decision", data={**fields, "decision": "approve"})
    assert again.status_code == 400


async def test_a_consent_form_posted_without_the_browser_cookie_is_refused(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client = await register(auth)
    page = await auth.get("/authorize", params=authorize_params(client["client_id"], new_pkce()))
    fields = dict(re.findall(r"name='(consent|csrf)' value='([^']+)'", page.text))
    auth.cookies.clear()
    response = await auth.post("/authorize/decision", data={**fields, "decision": "approve"})
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_deny_on_the_consent_page_sends_access_denied(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client = await register(auth)
    page = await auth.get("/authorize", params=authorize_params(client["client_id"], new_pkce()))
    fields = dict(re.findall(r"name='(consent|csrf)' value='([^']+)'", page.text))
    response = await auth.post("/authorize/decision", data={**fields, "decision": "deny"})
    query = redirect_query(response)
    assert query == {"error": "access_denied", "state": "state-123", "iss": ISSUER}


async def test_pending_consents_can_be_answered_programmatically(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("consent")
    client = await register(auth)
    await auth.get("/authorize", params=authorize_params(client["client_id"], new_pkce()))
    (pending,) = demo.auth.pending_consents()
    assert pending.request.client.client_id == client["client_id"]
    url = await demo.auth.complete_consent(pending.consent_id, approve=True)
    assert url.startswith(REDIRECT_URI + "?code=")
    assert demo.auth.pending_consents() == []


async def test_deny_policy_redirects_with_access_denied(
    demo: DemoServers, auth: httpx.AsyncClient
) -> None:
    demo.set_approval("deny")
    client = await register(auth)
    response = await auth.get(
        "/authorize", params=authorize_params(client["client_id"], new_pkce())
    )
    assert redirect_query(response)["error"] == "access_denied"


async def test_offline_access_is_granted_even_when_the_registration_named_only_other_scopes(
    auth: httpx.AsyncClient,
) -> None:
    client = await register(auth, scope="mcp")
    assert client["scope"] == "mcp"
    response = await auth.get(
        "/authorize", params=authorize_params(client["client_id"], new_pkce())
    )
    assert "code" in redirect_query(response)
