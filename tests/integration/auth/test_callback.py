from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from mcp_oauth2_proxy.auth.callback import CallbackConfig, CallbackServer
from mcp_oauth2_proxy.errors import AuthError

pytestmark = pytest.mark.anyio
STATE = "s" * 43


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as c:
        yield c


def listener(**kw: object) -> CallbackServer:
    config = CallbackConfig(port=0, timeout_seconds=kw.pop("timeout", 10.0), **kw)  # type: ignore[arg-type]
    return CallbackServer(config, state=STATE, issuer="https://auth.test", iss_required=False)


async def deliver(srv: CallbackServer, client: httpx.AsyncClient, **params: str) -> httpx.Response:
    """Send the genuine callback, finish the login, and return the page the browser got."""
    page = asyncio.create_task(client.get(srv.redirect_uri, params=params))
    code = await srv.wait_for_code()
    srv.finish(ok=True, message=f"got {code}")
    return await page


async def test_port_zero_binds_a_free_port_and_the_redirect_uri_follows_it() -> None:
    async with listener() as srv:
        assert srv.port != 0
        assert srv.redirect_uri == f"http://127.0.0.1:{srv.port}/callback"


async def test_valid_callback_delivers_the_code_and_shows_a_safe_page(
    client: httpx.AsyncClient,
) -> None:
    async with listener() as srv:
        page = await deliver(srv, client, code="the-code", state=STATE)
    assert page.status_code == 200
    assert "got the-code" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_wrong_state_is_refused_without_aborting_the_login(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        stale = await client.get(srv.redirect_uri, params={"code": "forged", "state": "x" * 43})
        assert stale.status_code == 400
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_missing_state_is_refused_without_aborting_the_login(
    client: httpx.AsyncClient,
) -> None:
    async with listener() as srv:
        missing = await client.get(srv.redirect_uri, params={"code": "forged"})
        assert missing.status_code == 400
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_access_denied_ends_the_login_with_the_server_error_escaped(
    client: httpx.AsyncClient,
) -> None:
    async with listener() as srv:
        page = await client.get(
            srv.redirect_uri,
            params={
                "error": "access_denied",
                "error_description": "<script>x</script>",
                "state": STATE,
            },
        )
        with pytest.raises(AuthError) as caught:
            await srv.wait_for_code()
    assert caught.value.error == "access_denied"
    assert page.status_code == 400
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


async def test_a_non_loopback_host_header_is_refused(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        evil = await client.get(
            srv.redirect_uri,
            params={"code": "c", "state": STATE},
            headers={"Host": f"attacker.example:{srv.port}"},
        )
        assert evil.status_code == 400
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_a_host_header_with_another_port_is_refused(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        other = await client.get(
            srv.redirect_uri,
            params={"code": "c", "state": STATE},
            headers={"Host": f"127.0.0.1:{srv.port + 1}"},
        )
        assert other.status_code == 400
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_favicon_and_other_paths_are_ignored_before_the_real_callback(
    client: httpx.AsyncClient,
) -> None:
    async with listener() as srv:
        base = srv.redirect_uri.rsplit("/", 1)[0]
        assert (await client.get(base + "/favicon.ico")).status_code == 404
        assert (
            await client.get(base + "/", params={"code": "c", "state": STATE})
        ).status_code == 404
        assert (await client.post(srv.redirect_uri)).status_code == 405
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_a_second_callback_after_success_is_not_redeemed(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        first = asyncio.create_task(
            client.get(srv.redirect_uri, params={"code": "one", "state": STATE})
        )
        assert await srv.wait_for_code() == "one"
        second = await client.get(srv.redirect_uri, params={"code": "two", "state": STATE})
        srv.finish(ok=True, message="done")
        assert (await first).status_code == 200
        assert await srv.wait_for_code() == "one"
    assert second.status_code == 400
    assert "already" in second.text


async def test_the_listener_is_closed_after_the_login(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        await deliver(srv, client, code="one", state=STATE)
        uri = srv.redirect_uri
    with pytest.raises(httpx.ConnectError):
        await client.get(uri, params={"code": "two", "state": STATE})


async def test_a_port_in_use_names_oauth2_callback_port() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(AuthError, match="OAUTH2_CALLBACK_PORT"):
            async with CallbackServer(CallbackConfig(port=port), state=STATE):
                pass
    finally:
        taken.close()


async def test_no_callback_within_the_timeout_is_a_clear_error() -> None:
    async with listener(timeout=0.05) as srv:
        with pytest.raises(AuthError, match="OAUTH2_CALLBACK_TIMEOUT_SECONDS"):
            await srv.wait_for_code()


async def test_a_wrong_issuer_in_the_response_ends_the_login(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        page = await client.get(
            srv.redirect_uri, params={"code": "c", "state": STATE, "iss": "https://evil.test"}
        )
        with pytest.raises(AuthError, match="RFC 9207"):
            await srv.wait_for_code()
    assert page.status_code == 400


async def test_a_garbage_request_does_not_disturb_the_login(client: httpx.AsyncClient) -> None:
    async with listener() as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        page = await deliver(srv, client, code="real", state=STATE)
    assert "got real" in page.text


async def test_localhost_binds_and_answers_on_ipv4(client: httpx.AsyncClient) -> None:
    async with CallbackServer(CallbackConfig(host="localhost", port=0), state=STATE) as srv:
        assert srv.redirect_uri.startswith("http://localhost:")
        page = asyncio.create_task(
            client.get(
                f"http://127.0.0.1:{srv.port}/callback", params={"code": "c", "state": STATE}
            )
        )
        assert await srv.wait_for_code() == "c"
        srv.finish(ok=True, message="ok")
        assert (await page).status_code == 200
