"""A hostile or broken upstream: every request answered, stdout JSON-RPC only, memory bounded."""

from __future__ import annotations

import datetime
import gzip
import io
import json
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute

from mcp_oauth2_proxy.app import build_ssl_context
from mcp_oauth2_proxy.bridge import Bridge
from mcp_oauth2_proxy.transport.sse import MAX_RETRY_MS, SSEDecoder
from mcp_oauth2_proxy.transport.streamable_http import StreamableHttpTransport
from tests.integration.helpers import INITIALIZE, INITIALIZED, Sink, bridge_to, request, running
from tests.integration.rawhttp import RawRequest, raw_server

from .conftest import Chunks, CountingBody, as_stream, stdout_lines_are_jsonrpc

pytestmark = pytest.mark.anyio
URL = "https://mcp.test/mcp"
CAP = 1024 * 1024


def answer(msg_id: Any = 1, **result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


class Upstream:
    """A scripted upstream behind ``httpx.MockTransport``; counts requests per method."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        return as_stream(self.respond(req))

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


@asynccontextmanager
async def bridged(
    upstream: Upstream, timeout_s: float = 5.0, **kwargs: Any
) -> AsyncIterator[tuple[Bridge, Sink]]:
    sink = Sink()
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        transport = StreamableHttpTransport(client, URL, timeout_s=timeout_s, **kwargs)
        yield Bridge(transport, sink, open_server_stream=False, grace_s=0.2), sink


def sse(*events: bytes, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers={"Content-Type": "text/event-stream", **headers}, content=b"".join(events)
    )


def event(value: Any) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


async def one_answer(
    respond: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> tuple[dict[str, Any], Upstream, Sink]:
    upstream = Upstream(respond)
    async with bridged(upstream, **kwargs) as (bridge, sink):
        await bridge.dispatch(request(1, "tools/call", name="x"))
    messages = stdout_lines_are_jsonrpc(sink.raw)
    answers = [m for m in messages if m.get("id") == 1]
    assert len(answers) == 1, messages
    return answers[0], upstream, sink


async def test_an_html_502_is_answered_with_its_status_and_a_short_excerpt() -> None:
    page = "<html><script>alert(1)</script>" + "x" * 5000
    reply, _, _ = await one_answer(lambda _: httpx.Response(502, html=page))
    assert reply["error"]["code"] == -32001
    assert reply["error"]["data"]["status"] == 502
    assert len(reply["error"]["data"]["body"]) <= 500


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_5xx_with_retry_after_is_not_retried_automatically(status: int) -> None:
    reply, upstream, _ = await one_answer(
        lambda _: httpx.Response(status, headers={"Retry-After": "0"}, text="busy")
    )
    assert reply["error"]["code"] == -32001
    assert len(upstream.posts()) == 1


async def test_a_200_mb_error_body_is_not_read_to_the_end() -> None:
    body = CountingBody(b"<p>" + b"x" * 65533, 200 * 1024 * 1024)
    reply, _, _ = await one_answer(lambda _: httpx.Response(500, stream=body))
    assert reply["error"]["code"] == -32001
    assert body.sent <= 1024 * 1024


@pytest.mark.parametrize("kind", ["sse", "json"])
async def test_an_oversized_message_is_refused_with_a_clear_error_and_bounded_memory(
    kind: str,
) -> None:
    if kind == "sse":
        head = b'data: {"jsonrpc":"2.0","id":1,"result":{"blob":"'
        body = CountingBody(head + b"A" * (65536 - len(head)), 1024 * 1024 * 1024)
        content_type = "text/event-stream"
    else:
        body = CountingBody(b"[" + b" " * 65535, 1024 * 1024 * 1024)
        content_type = "application/json"
    started = time.monotonic()
    reply, _, _ = await one_answer(
        lambda _: httpx.Response(200, headers={"Content-Type": content_type}, stream=body),
        max_message_bytes=CAP,
    )
    assert reply["error"]["code"] == -32000
    assert "larger than" in reply["error"]["message"]
    assert body.sent <= CAP + 2 * 65536
    assert time.monotonic() - started < 10


async def test_a_message_just_under_the_cap_still_passes() -> None:
    blob = "A" * (CAP - 200)
    reply, _, _ = await one_answer(
        lambda _: sse(event(answer(1, blob=blob))), max_message_bytes=CAP
    )
    assert reply["result"]["blob"] == blob


async def test_an_sse_stream_cut_mid_event_answers_the_request() -> None:
    cut = (
        b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n'
        b'data: {"jsonrpc":"2.0","id":1,"res'
    )
    reply, _, sink = await one_answer(lambda _: sse(cut))
    assert reply["error"]["code"] == -32000
    assert len(sink.raw) == 2


async def test_an_sse_stream_idle_forever_times_out_and_other_requests_are_unaffected() -> None:
    async def handler(req: RawRequest) -> None:
        if req.json()["id"] == 3:
            await req.reply(200, json.dumps(answer(3)).encode())
            return
        await req.start_sse()
        await req.stream.send(b": still here\n\n")
        await anyio.sleep_forever()

    sink = Sink()
    with anyio.fail_after(10):
        async with (
            raw_server(handler) as server,
            bridge_to(server.url, sink, timeout_s=0.5) as (
                bridge,
                _,
            ),
            running(bridge) as stdin,
        ):
            await stdin.send(request(1, "tools/call", name="x"))
            await stdin.send(request(2, "tools/call", name="y"))
            await stdin.send(request(3, "tools/call", name="z"))
            await sink.wait_for(3)
    by_id = {m["id"]: m for m in stdout_lines_are_jsonrpc(sink.raw)}
    assert by_id[3] == answer(3)
    assert by_id[1]["error"]["code"] == by_id[2]["error"]["code"] == -32000
    assert "silent" in by_id[1]["error"]["message"]


GARBAGE = [
    b"\x00\xff\xfe garbage without structure",
    b"data: not json\n\n",
    b'data: {"jsonrpc":"2.0",\n\n',
    b"event: other\ndata: " + json.dumps(answer(1)).encode() + b"\n\n",
    b": only a comment\n\n",
    b"id: \x00\nretry: -5\nretry: 99999999999999999999\n\n",
    b"\xef\xbb\xbf\xef\xbb\xbfdata: {}\n\n",
    b"data: " + b"[" * 100_000 + b"\n\n",
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
async def test_sse_garbage_never_reaches_stdout_and_the_request_is_answered(
    garbage: bytes,
) -> None:
    reply, _, sink = await one_answer(lambda _: sse(garbage))
    assert reply["error"]["code"] == -32000
    assert len(sink.raw) == 1


NOT_JSONRPC = [42, "text", None, [1, 2], {"foo": "bar"}, {"jsonrpc": "1.0", "id": 1}, True]


@pytest.mark.parametrize("value", NOT_JSONRPC, ids=[repr(v) for v in NOT_JSONRPC])
@pytest.mark.parametrize("kind", ["sse", "json"])
async def test_json_that_is_not_json_rpc_is_dropped_not_written_to_stdout(
    value: Any, kind: str
) -> None:
    def respond(r: httpx.Request) -> httpx.Response:
        if kind == "sse":
            return sse(event(value), event(answer(1)))
        return httpx.Response(200, json=[value, answer(1)])

    reply, _, sink = await one_answer(respond)
    assert reply == answer(1)
    assert len(sink.raw) == 1


@pytest.mark.parametrize("kind", ["sse", "json"])
async def test_deeply_nested_upstream_json_is_a_clean_error_not_a_crash(kind: str) -> None:
    nested = b"[" * 200_000 + b"]" * 200_000

    def respond(r: httpx.Request) -> httpx.Response:
        if kind == "sse":
            return sse(b"data: " + nested + b"\n\n")
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=nested)

    reply, _, _ = await one_answer(respond)
    assert reply["error"]["code"] == -32000
    assert "internal error" not in reply["error"]["message"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(answer(1)).encode()),
        ("text/html", b"<html>ok</html>"),
        ("application/octet-stream", b"\x00\x01"),
        ("", json.dumps(answer(1)).encode()),
        ("application/json", b"<html>not json</html>"),
        ("text/event-stream; charset=utf-16", b"d\x00a\x00"),
    ],
)
async def test_wrong_content_types_are_answered_with_an_error(
    content_type: str, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply, _, _ = await one_answer(lambda _: httpx.Response(200, headers=headers, content=body))
    assert reply["error"]["code"] == -32000


HOSTILE_SESSIONS = ["abc\r\nX-Injected: 1", "sess\x00ion", "sessión-ü", "s" * 65536, " padded "]


@pytest.mark.parametrize(
    "session", HOSTILE_SESSIONS, ids=["crlf", "nul", "non-ascii", "64KB", "space"]
)
async def test_a_hostile_session_id_is_refused_and_never_echoed(session: str) -> None:
    def respond(r: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers=[
                (b"Content-Type", b"application/json"),
                (b"Mcp-Session-Id", session.encode("utf-8")),
            ],
            json=answer(json.loads(r.content)["id"], protocolVersion="2025-06-18"),
        )

    upstream = Upstream(respond)
    async with bridged(upstream) as (bridge, sink):
        await bridge.dispatch(INITIALIZE)
        await bridge.dispatch(INITIALIZED)
        await bridge.dispatch(request(1, "tools/list"))
    messages = stdout_lines_are_jsonrpc(sink.raw)
    assert "error" in messages[0]
    assert "Mcp-Session-Id" in messages[0]["error"]["message"]
    for r in upstream.requests:
        assert "mcp-session-id" not in r.headers


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return ctx


async def test_a_self_signed_upstream_fails_closed(tmp_path: Path) -> None:
    server_ctx = _self_signed(tmp_path)
    handshakes: list[str] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError) as exc:
                handshakes.append(type(exc).__name__)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    from anyio.streams.tls import TLSListener

    tls = TLSListener(listener, server_ctx, standard_compatible=False)
    sink = Sink()
    async with tls, anyio.create_task_group() as tg:
        tg.start_soon(tls.serve, serve)
        async with httpx.AsyncClient(verify=build_ssl_context(), trust_env=False) as client:
            bridge = Bridge(
                StreamableHttpTransport(client, f"https://127.0.0.1:{port}/mcp", timeout_s=5),
                sink,
                open_server_stream=False,
            )
            await bridge.dispatch(request(1, "tools/call", name="x"))
        tg.cancel_scope.cancel()
    [reply] = stdout_lines_are_jsonrpc(sink.raw)
    assert reply["error"]["code"] == -32000
    assert "certificate" in reply["error"]["message"].lower()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_never_inflated_beyond_the_cap(encoding: str) -> None:
    raw = b"[" + b" " * (256 * 1024 * 1024) + b"]"
    packed = gzip.compress(raw, 9) if encoding == "gzip" else zlib.compress(raw, 9)
    del raw
    assert len(packed) < 1024 * 1024

    def respond(r: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
            stream=Chunks(packed),
        )

    import tracemalloc

    tracemalloc.start()
    try:
        reply, _, _ = await one_answer(respond, max_message_bytes=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply["error"]["code"] == -32000
    assert "larger than" in reply["error"]["message"]
    assert peak < 64 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_legitimate_answer_is_understood(encoding: str) -> None:
    data = json.dumps(answer(1, text="hello")).encode()
    packed = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)

    def respond(r: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
            content=packed,
        )

    reply, _, _ = await one_answer(respond)
    assert reply == answer(1, text="hello")


async def test_an_upstream_error_body_echoing_the_token_does_not_reach_the_client(
    log_stream: io.StringIO,
) -> None:
    from mcp_oauth2_proxy.log import register_secret

    token = "at-upstream-bearer-token-0123456789"
    register_secret(token)
    reply, _, _ = await one_answer(
        lambda _: httpx.Response(401, text=f"invalid token {token}; send Bearer {token}")
    )
    assert token not in json.dumps(reply)
    assert token not in log_stream.getvalue()


_PAD = b'{"jsonrpc":"2.0","id":1,"result":{"blob":"' + b"A" * (3 << 20)
LARGE_BROKEN = [
    pytest.param(_PAD + b'","x":[1,,2]}}', id="syntax"),
    pytest.param(_PAD + b'"}}}}}', id="trailing"),
    pytest.param(_PAD + b'"}', id="short"),
    pytest.param(_PAD + b'\x00"}}', id="nul"),
    pytest.param(_PAD + b'","n":NaN}}', id="nan"),
    pytest.param(_PAD + b'","n":-Infinity}}', id="infinity"),
]


@pytest.mark.parametrize("body", LARGE_BROKEN)
@pytest.mark.parametrize("kind", ["sse", "json"])
async def test_a_large_upstream_message_that_is_not_valid_json_never_reaches_stdout(
    body: bytes, kind: str
) -> None:
    def respond(_: httpx.Request) -> httpx.Response:
        if kind == "sse":
            return sse(b"data: " + body + b"\n\n")
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=body)

    reply, _, sink = await one_answer(respond)
    assert reply["error"]["code"] == -32000
    assert len(sink.raw) == 1
    json.loads(sink.raw[0], parse_constant=_strict)


def _strict(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


async def test_json_with_invalid_utf8_is_refused_not_forwarded() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"result":{"s":"\xff\xfe"}}'
    reply, _, _ = await one_answer(
        lambda _: httpx.Response(200, headers={"Content-Type": "application/json"}, content=body)
    )
    assert reply["error"]["code"] == -32000


async def test_a_poisoned_server_stream_does_not_bring_the_proxy_down() -> None:
    gets = 0

    def respond(r: httpx.Request) -> httpx.Response:
        nonlocal gets
        if r.method == "GET":
            gets += 1
            if gets == 1:
                return sse(b"data: " + b"[" * 200_000 + b"\n\n", b"data: 42\n\n")
            return httpx.Response(405)
        if r.method == "DELETE":
            return httpx.Response(200)
        message = json.loads(r.content)
        if "id" not in message:
            return httpx.Response(202)
        result = {"protocolVersion": "2025-06-18"}
        return httpx.Response(
            200, json=answer(message["id"], **result), headers={"Mcp-Session-Id": "s-1"}
        )

    upstream = Upstream(respond)
    sink = Sink()
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        bridge = Bridge(StreamableHttpTransport(client, URL, timeout_s=5), sink, grace_s=0.5)
        with anyio.fail_after(10):
            async with running(bridge) as stdin:
                await stdin.send(INITIALIZE)
                await stdin.send(INITIALIZED)
                await sink.wait_for(1)
                await stdin.send(request(1, "tools/call", name="x"))
                await sink.wait_for(2)
    messages = stdout_lines_are_jsonrpc(sink.raw)
    assert [m.get("id") for m in messages] == [0, 1]
    assert gets >= 1  # the poisoned stream was read, and the proxy lived on


def test_a_server_cannot_ask_for_a_reconnection_delay_of_years() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 99999999999999999999999\n\n")
    assert decoder.retry_ms == MAX_RETRY_MS


@pytest.mark.parametrize("kind", ["foreign", "oversized"])
async def test_the_legacy_transport_drops_foreign_messages_and_refuses_oversized_events(
    kind: str,
) -> None:
    from mcp_oauth2_proxy.transport.legacy_sse import LegacySseTransport

    posted = anyio.Event()

    async def handler(req: RawRequest) -> None:
        if req.method == "GET":
            await req.start_sse()
            await req.stream.send(b"event: endpoint\ndata: /messages\n\n")
            await posted.wait()
            if kind == "foreign":
                await req.stream.send(b'data: 42\n\ndata: {"foo":1}\n\n')
                await req.event(answer(1))
            else:
                await req.stream.send(b"data: " + b"A" * (2 * CAP) + b"\n\n")
            await anyio.sleep_forever()
        else:
            posted.set()
            await req.reply(202)

    sink = Sink()
    server_lines: list[bytes] = []

    async def to_server_sink(line: bytes) -> None:
        server_lines.append(line)

    with anyio.fail_after(10):
        async with (
            raw_server(handler) as server,
            httpx.AsyncClient() as client,
            anyio.create_task_group() as tg,
        ):
            transport = LegacySseTransport(
                client,
                server.url,
                task_group=tg,
                server_sink=to_server_sink,
                timeout_s=5,
                max_message_bytes=CAP,
            )
            bridge = Bridge(transport, sink, open_server_stream=False, grace_s=0.1)
            await bridge.dispatch(request(1, "tools/call", name="x"))
            tg.cancel_scope.cancel()
    [reply] = stdout_lines_are_jsonrpc(sink.raw)
    assert server_lines == []
    if kind == "foreign":
        assert reply == answer(1)
    else:
        assert reply["error"]["code"] == -32000
        assert "maxMessageBytes" in reply["error"]["message"]
