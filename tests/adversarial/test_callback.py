"""The loopback callback listener under attack from the local machine and the browser."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from mcp_oauth2_proxy.auth.callback import CallbackConfig, CallbackServer
from mcp_oauth2_proxy.errors import AuthError

pytestmark = pytest.mark.anyio
STATE = "the-right-state-value"
ISSUER = "https://auth.test"


async def raw(port: int, data: bytes, host: str = "127.0.0.1") -> bytes:
    """Send ``data`` on a fresh connection; return everything until the listener closes."""
    async with await anyio.connect_tcp(host, port) as stream:
        await stream.send(data)
        chunks = []
        with anyio.fail_after(20):
            while True:
                try:
                    chunks.append(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    return b"".join(chunks)


def get(port: int, target: str, *extra: str, host: str | None = None, method: str = "GET") -> bytes:
    shown = f"127.0.0.1:{port}" if host is None else host
    lines = [f"{method} {target} HTTP/1.1", f"Host: {shown}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@asynccontextmanager
async def listener(**kwargs: object) -> AsyncIterator[CallbackServer]:
    config = CallbackConfig(port=0, timeout_seconds=30, **kwargs)  # type: ignore[arg-type]
    async with CallbackServer(config, state=STATE, issuer=ISSUER) as server:
        yield server


async def finish_login(server: CallbackServer, code: str = "real-code") -> tuple[str, bytes]:
    """Deliver the real callback and complete the login; return the code and the page."""
    codes: list[str] = []

    async def wait() -> None:
        codes.append(await server.wait_for_code())
        server.finish(ok=True, message="Logged in.")

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        page = await raw(server.port, get(server.port, f"/callback?code={code}&state={STATE}"))
    return codes[0], page


@pytest.mark.parametrize(
    "query",
    [
        "code=forged",
        "code=forged&state=",
        "code=forged&state=wrong",
        f"code=forged&state={STATE}x",
        f"code=forged&state={STATE[:-1]}",
        f"code=forged&STATE={STATE}",
        "error=access_denied&state=wrong",
        "state=%00",
    ],
)
async def test_a_wrong_or_missing_state_leaves_the_login_pending(query: str) -> None:
    async with listener() as server:
        answer = await raw(server.port, get(server.port, f"/callback?{query}"))
        assert status(answer) == 400
        code, page = await finish_login(server)
        assert code == "real-code"
        assert status(page) == 200


async def test_a_replayed_code_is_redeemed_once() -> None:
    async with listener() as server:
        code, _ = await finish_login(server)
        again = await raw(server.port, get(server.port, f"/callback?code=other&state={STATE}"))
        assert code == "real-code"
        assert status(again) == 400
        assert b"already" in again
        assert await server.wait_for_code() == "real-code"


@pytest.mark.parametrize(
    "host",
    [
        "attacker.test",
        "attacker.test:{port}",
        "127.0.0.1.attacker.test:{port}",
        "localhost.attacker.test:{port}",
        "127.0.0.1:{port}@attacker.test",
        "127.0.0.1:1",
        "127.0.0.1:{port}x",
        "[::1]x:{port}",
        "",
        "0.0.0.0:{port}",
        "192.168.1.10:{port}",
    ],
)
async def test_foreign_and_rebinding_host_headers_are_refused(host: str) -> None:
    async with listener() as server:
        value = host.format(port=server.port)
        answer = await raw(
            server.port, get(server.port, f"/callback?code=c&state={STATE}", host=value)
        )
        assert status(answer) == 400
        code, _ = await finish_login(server)
        assert code == "real-code"


async def test_a_request_without_any_host_header_is_refused() -> None:
    async with listener() as server:
        answer = await raw(
            server.port, f"GET /callback?code=c&state={STATE} HTTP/1.0\r\n\r\n".encode()
        )
        assert status(answer) == 400
        assert (await finish_login(server))[0] == "real-code"


@pytest.mark.parametrize(
    "header",
    [
        "Origin: https://attacker.test",
        "Origin: null",
        "Origin: http://127.0.0.1:1",
        "Origin: https://auth.test",
        "Sec-Fetch-Mode: cors",
        "Sec-Fetch-Mode: no-cors",
    ],
)
async def test_a_cross_origin_script_request_is_refused_even_with_the_right_state(
    header: str,
) -> None:
    async with listener() as server:
        answer = await raw(
            server.port, get(server.port, f"/callback?code=forged&state={STATE}", header)
        )
        assert status(answer) == 403
        assert (await finish_login(server))[0] == "real-code"


async def test_a_same_origin_request_is_not_mistaken_for_a_cross_origin_one() -> None:
    async with listener() as server:
        codes: list[str] = []

        async def wait() -> None:
            codes.append(await server.wait_for_code())
            server.finish(ok=True, message="ok")

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            page = await raw(
                server.port,
                get(
                    server.port,
                    f"/callback?code=c&state={STATE}",
                    f"Origin: http://127.0.0.1:{server.port}",
                    "Sec-Fetch-Mode: navigate",
                ),
            )
        assert status(page) == 200
        assert codes == ["c"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT"])
async def test_other_methods_are_refused_and_do_not_disturb_the_login(method: str) -> None:
    async with listener() as server:
        answer = await raw(
            server.port,
            get(server.port, f"/callback?code=c&state={STATE}", "Content-Length: 0", method=method),
        )
        assert status(answer) == 405
        assert b"Access-Control-Allow" not in answer
        assert (await finish_login(server))[0] == "real-code"


async def test_head_gets_headers_only_and_does_not_consume_the_login() -> None:
    async with listener() as server:
        answer = await raw(
            server.port, get(server.port, "/callback?code=x&state=bad", method="HEAD")
        )
        assert status(answer) == 400
        assert answer.endswith(b"\r\n\r\n")
        assert (await finish_login(server))[0] == "real-code"


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/favicon.ico",
        "/callback/",
        "/callbackx",
        "/Callback",
        "/%63allback",
        "//callback",
        "/../callback",
        "*",
        "http://127.0.0.1/callback?code=c&state=" + STATE,
    ],
)
async def test_other_paths_are_not_found_and_do_not_disturb_the_login(target: str) -> None:
    async with listener() as server:
        answer = await raw(server.port, get(server.port, target))
        assert status(answer) == 404
        assert (await finish_login(server))[0] == "real-code"


async def test_access_denied_with_the_right_state_ends_the_login_with_an_escaped_reason() -> None:
    async with listener() as server:
        description = "<script>alert(1)</script>%0a%1b[31m"
        answer = await raw(
            server.port,
            get(
                server.port,
                f"/callback?error=access_denied&error_description={description}&state={STATE}",
            ),
        )
        assert status(answer) == 400
        assert b"<script>" not in answer
        assert b"&lt;script&gt;" in answer
        with pytest.raises(AuthError) as failed:
            await server.wait_for_code()
        assert failed.value.error == "access_denied"
        assert "\x1b" not in str(failed.value)
        assert "\n" not in str(failed.value)


async def test_an_iss_mismatch_ends_the_login_without_redeeming_the_code() -> None:
    async with listener() as server:
        answer = await raw(
            server.port,
            get(server.port, f"/callback?code=c&state={STATE}&iss=https%3A%2F%2Fattacker.test"),
        )
        assert status(answer) == 400
        with pytest.raises(AuthError, match="RFC 9207"):
            await server.wait_for_code()


async def test_fifty_concurrent_bogus_callbacks_do_not_stop_the_real_one() -> None:
    async with listener() as server:
        answers: list[bytes] = []

        async def bogus(i: int) -> None:
            target = f"/callback?code=bogus{i}&state=guess{i}"
            answers.append(await raw(server.port, get(server.port, target)))

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(bogus, i)
        code, page = await finish_login(server)
        assert code == "real-code"
        assert status(page) == 200
        assert len(answers) == 50
        assert all(status(a) == 400 for a in answers)


async def test_idle_and_slow_loris_connections_do_not_block_the_real_callback() -> None:
    async with listener(read_timeout_seconds=0.5) as server:
        idle = [await anyio.connect_tcp("127.0.0.1", server.port) for _ in range(20)]
        loris = await anyio.connect_tcp("127.0.0.1", server.port)
        await loris.send(b"GET /callback?code=slow&state=" + STATE.encode() + b" HTTP/1.1\r\nX-a: ")
        try:
            code, page = await finish_login(server)
            assert code == "real-code"
            assert status(page) == 200
            with anyio.fail_after(10):  # the listener hangs up on the slow client by itself
                assert await _hung_up(loris)
        finally:
            for stream in [*idle, loris]:
                await stream.aclose()


async def test_an_oversized_request_head_is_dropped_without_disturbing_the_login() -> None:
    async with listener() as server:
        huge = get(server.port, "/callback?code=c&state=x", "X-Pad: " + "a" * 100_000)
        try:
            answer = await raw(server.port, huge)
        except OSError:  # reset while we were still sending: equally fine
            answer = b""
        assert b"200" not in answer[:20]
        assert (await finish_login(server))[0] == "real-code"


async def test_the_listener_binds_loopback_only() -> None:
    async with listener() as server:
        addresses = {s.sockets[0].getsockname()[0] for s in server._servers}
        assert addresses == {"127.0.0.1"}
        outside = _non_loopback_address()
        if outside is not None:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((outside, server.port), timeout=2).close()


async def _hung_up(stream: anyio.abc.SocketStream) -> bool:
    try:
        while True:
            await stream.send(b"a")
            await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return True


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        address: str = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("outcome", ["success", "failure", "stray"])
async def test_every_page_is_uncacheable_unreferred_locked_down_and_free_of_the_code(
    outcome: str, log_stream: io.StringIO
) -> None:
    async with listener() as server:
        if outcome == "success":
            _, page = await finish_login(server, code="SECRET-CODE-123")
        elif outcome == "failure":
            codes: list[str] = []

            async def fail() -> None:
                codes.append(await server.wait_for_code())
                server.finish(ok=False, message="The login could not be completed.")

            async with anyio.create_task_group() as tg:
                tg.start_soon(fail)
                page = await raw(
                    server.port, get(server.port, f"/callback?code=SECRET-CODE-123&state={STATE}")
                )
        else:
            page = await raw(
                server.port, get(server.port, "/callback?code=SECRET-CODE-123&state=stale")
            )
        head = page.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert "cache-control: no-store" in head
        assert "referrer-policy: no-referrer" in head
        assert "content-security-policy: default-src 'none'" in head
        assert "frame-ancestors 'none'" in head
        assert b"SECRET-CODE-123" not in page
        assert "SECRET-CODE-123" not in log_stream.getvalue()
