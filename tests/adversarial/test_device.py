"""A hostile device-authorization server cannot hijack the terminal or stall the login forever."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from mcp_oauth2_proxy.auth.client import TokenClient
from mcp_oauth2_proxy.auth.device import device_login
from mcp_oauth2_proxy.auth.grants import ClientAuth, RequestOptions
from mcp_oauth2_proxy.errors import AuthError
from tests.support.auth_helpers import FakeClock

pytestmark = pytest.mark.anyio
DEVICE = "https://auth.test/device"
TOKEN = "https://auth.test/token"


class Sleeper:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


async def login(
    device_answer: dict[str, Any], token_answers: list[dict[str, Any]]
) -> tuple[str, Sleeper, Any]:
    clock = FakeClock()
    sleeper = Sleeper(clock)
    answers = iter(token_answers)

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == DEVICE:
            return httpx.Response(200, json=device_answer)
        answer = next(answers, {"error": "authorization_pending"})
        return httpx.Response(400 if "error" in answer else 200, json=answer)

    stderr = io.StringIO()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        tokens = TokenClient(http, TOKEN, ClientAuth("c"), RequestOptions(), clock)
        try:
            result: Any = await device_login(
                endpoint=DEVICE, tokens=tokens, stderr=stderr, clock=clock, sleep=sleeper
            )
        except AuthError as exc:
            result = exc
    return stderr.getvalue(), sleeper, result


GOOD = {
    "device_code": "dc-secret",
    "user_code": "ABCD-EFGH",
    "verification_uri": "https://auth.test/activate",
    "expires_in": 600,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_code", "\x1b]52;c;ZWNobyBwd25lZA==\x07ABCD"),
        ("user_code", "AB\r\nmcp-oauth2-proxy: login complete"),
        ("verification_uri", "https://auth.test/\x1b[2Jactivate"),
        ("verification_uri_complete", "https://auth.test/a?c=\u202eevil"),
    ],
)
async def test_terminal_escapes_from_the_server_never_reach_the_terminal(
    field: str, value: str
) -> None:
    shown, _, _ = await login(
        {**GOOD, field: value}, [{"access_token": "at", "token_type": "Bearer"}]
    )
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "\r" not in shown
    forged = "mcp-oauth2-proxy: login complete"
    assert not any(line.startswith(forged) for line in shown.splitlines())


@pytest.mark.parametrize(
    "uri", ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "not a url"]
)
async def test_a_verification_uri_that_is_not_a_web_address_is_refused(uri: str) -> None:
    shown, _, result = await login({**GOOD, "verification_uri": uri}, [])
    assert isinstance(result, AuthError)
    assert uri not in shown


@pytest.mark.parametrize("interval", [10**12, "99999999999"])
async def test_an_absurd_polling_interval_cannot_outlast_the_code(interval: Any) -> None:
    _, sleeper, result = await login({**GOOD, "interval": interval, "expires_in": 600}, [])
    assert isinstance(result, AuthError)
    assert result.error == "expired_token"
    assert sum(sleeper.slept) <= 600 + 1


async def test_the_device_code_never_appears_on_the_terminal() -> None:
    shown, _, result = await login(GOOD, [{"access_token": "at", "token_type": "Bearer"}])
    assert result.access_token == "at"
    assert "dc-secret" not in shown
    assert json.dumps(GOOD["user_code"])[1:-1] in shown
