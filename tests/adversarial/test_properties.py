"""Property-based attacks: no input crashes the pure parsers, and their answers stay consistent."""

from __future__ import annotations

import gzip
import ipaddress
import json
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mcp_oauth2_proxy import jsonrpc
from mcp_oauth2_proxy.auth.callback import parse_host
from mcp_oauth2_proxy.auth.www_authenticate import (
    MAX_HEADER_CHARS,
    bearer_challenge,
    parse_www_authenticate,
)
from mcp_oauth2_proxy.config import load_settings
from mcp_oauth2_proxy.errors import ConfigError, InsecureUrlError
from mcp_oauth2_proxy.log import MASK, redact_text, register_secret
from mcp_oauth2_proxy.stdio import LineSplitter
from mcp_oauth2_proxy.transport.decoding import PIECE, BodyDecoder, UnsupportedEncodingError
from mcp_oauth2_proxy.transport.sse import SSEDecoder
from mcp_oauth2_proxy.urls import check_secure_url, is_loopback_host, origin

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunkings(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Every way of cutting ``data`` into consecutive chunks."""
    return st.lists(st.integers(0, len(data)), max_size=12).map(
        lambda cuts: [
            data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True)
        ]
    )


line_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))


@FAST
@given(st.lists(line_bytes, max_size=8), st.booleans(), st.data())
def test_stdin_framing_returns_exactly_the_lines_whatever_the_chunking(
    items: list[bytes], crlf: bool, data: st.DataObject
) -> None:
    stream = b"".join(item + (b"\r\n" if crlf else b"\n") for item in items)
    splitter = LineSplitter()
    out: list[bytes] = []
    for chunk in data.draw(chunkings(stream)):
        out.extend(splitter.feed(chunk))
    out.extend(splitter.close())
    assert out == items


@FAST
@given(st.binary(max_size=400), st.data())
def test_stdin_framing_never_raises_and_never_invents_bytes(
    stream: bytes, data: st.DataObject
) -> None:
    splitter = LineSplitter()
    out: list[bytes] = []
    for chunk in data.draw(chunkings(stream)):
        out.extend(splitter.feed(chunk))
    out.extend(splitter.close())
    assert sum(len(line) for line in out) <= len(stream)
    assert all(b"\n" not in line for line in out)


@FAST
@given(st.binary(max_size=2000))
def test_any_stdin_line_is_either_a_message_or_a_parse_error(line: bytes) -> None:
    try:
        value = jsonrpc.parse(line)
    except jsonrpc.ParseError:
        return
    message = jsonrpc.classify(value)
    assert isinstance(message.kind, jsonrpc.Kind)
    for item in message.items:
        assert item.kind is not jsonrpc.Kind.BATCH


@FAST
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_value_classifies_without_raising_and_errors_encode(value: object) -> None:
    message = jsonrpc.classify(value)
    if message.kind is jsonrpc.Kind.INVALID:
        reply = jsonrpc.encode(jsonrpc.invalid_request(message.id, message.reason))
        assert b"\n" not in reply


sse_text = st.lists(
    st.sampled_from(
        [
            b"data: ",
            b"data:",
            b"event: ",
            b"id: ",
            b"retry: ",
            b": ",
            b"\n",
            b"\r\n",
            b"\r",
            b"x",
            b"{}",
            b"\xef\xbb\xbf",
            b"\xff",
            b"\x00",
            b"1000",
            b"message",
        ]
    ),
    max_size=40,
).map(b"".join)


@FAST
@given(st.one_of(sse_text, st.binary(max_size=300)), st.data())
def test_the_sse_decoder_never_raises_and_ignores_how_bytes_are_chunked(
    stream: bytes, data: st.DataObject
) -> None:
    whole = SSEDecoder()
    expected = whole.feed(stream)
    pieces = SSEDecoder()
    got = []
    for chunk in data.draw(chunkings(stream)):
        got.extend(pieces.feed(chunk))
    assert got == expected
    assert pieces.last_event_id == whole.last_event_id
    assert pieces.retry_ms == whole.retry_ms
    assert all("\0" not in e.id for e in got)


@FAST
@given(st.text(max_size=300))
def test_www_authenticate_never_raises_on_any_text(header: str) -> None:
    challenges = parse_www_authenticate(header)
    bearer_challenge(challenges)
    for ch in challenges:
        assert ch.scheme == ch.scheme.lower()


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=12)
quoted_value = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)


@FAST
@given(quoted_value, quoted_value, st.sampled_from(["Bearer", "bearer", "BEARER"]), token)
def test_quoted_bearer_parameters_round_trip(
    metadata: str, scope: str, scheme: str, realm: str
) -> None:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = (
        f"Basic realm={realm}, {scheme} resource_metadata={quote(metadata)}, scope={quote(scope)}"
    )
    found = bearer_challenge(parse_www_authenticate(header))
    assert found is not None
    assert found.resource_metadata == (metadata or None)
    assert found.scope == (scope or None)


@settings(max_examples=20, deadline=None)
@given(st.integers(MAX_HEADER_CHARS, 4 * MAX_HEADER_CHARS))
def test_the_www_authenticate_budget_caps_any_value(size: int) -> None:
    found = bearer_challenge(parse_www_authenticate('Bearer scope="' + "s" * size + '"'))
    assert found is not None
    assert len(found.scope or "") <= MAX_HEADER_CHARS


hosts = st.one_of(
    st.sampled_from(
        [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "127.0.0.1.attacker.test",
            "localhost.attacker.test",
            "attacker.test",
            "0.0.0.0",  # noqa: S104 - a host under test, nothing binds it
            "[::]",
            "2130706433",
            "0x7f000001",
            "127.0.0.1%2e",
            "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # fullwidth "localhost"
            "xn--localhost",
            "[::1]x",
            "127.0.0.1:80@attacker.test",
            "attacker.test#@127.0.0.1",
            "attacker.test\\@127.0.0.1",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:[]@%\\#?/ ", max_size=25),
)


@FAST
@given(
    st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", ""]), hosts, st.text(max_size=10)
)
def test_an_accepted_cleartext_url_reaches_loopback_by_every_parser(
    scheme: str, host: str, path: str
) -> None:
    url = f"{scheme}://{host}/{path}"
    try:
        check_secure_url(url, allow_insecure_http=False)
    except InsecureUrlError:
        return
    assert scheme.lower() in ("http", "https")
    if scheme.lower() == "https":
        return
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return  # the HTTP client cannot even connect to it
    connect_host = parsed.host.rstrip(".").lower()
    assert connect_host == "localhost" or ipaddress.ip_address(connect_host.strip("[]")).is_loopback
    assert is_loopback_host(connect_host)
    origin(url)


@FAST
@given(st.text(max_size=40))
def test_callback_host_headers_never_raise(value: str) -> None:
    _, port = parse_host(value)
    assert port is None or isinstance(port, int)


setting_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "true",
            "0",
            "yes",
            "-1",
            "1e9",
            "300000",
            " 5 ",
            "\uff10",  # fullwidth zero
            "٣",
            "{}",
            "[]",
            '{"a": "${X}"}',
            '{"a\\r\\nb": "c"}',
            '{"a": "b\\r\\nX: y"}',
            "https://mcp.test/mcp",
            "http://[::1",
        ]
    ),
)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "UPSTREAM_URL",
                "UPSTREAM_TIMEOUT_MS",
                "ALLOW_INSECURE_HTTP",
                "UPSTREAM_HEADERS",
                "OAUTH2_CALLBACK_PORT",
                "OAUTH2_EXTRA_PARAMS",
                "LOG_LEVEL",
                "OAUTH2_REDIRECT_URI",
                "OAUTH2_CALLBACK_HOST",
                "OAUTH2_GRANT",
            ]
        ),
        setting_values,
        max_size=6,
    )
)
def test_configuration_parsing_ends_in_settings_or_one_config_error(env: dict[str, str]) -> None:
    try:
        result = load_settings(env=env)
    except ConfigError as exc:
        message = str(exc)
    else:
        message = ""
    assert "\n" not in message
    if message:
        return
    for value in result.upstream.headers.values():
        assert "\r" not in value
        assert "\n" not in value
    assert result.upstream.timeout_ms >= 1


@FAST
@given(st.text(min_size=8, max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_a_registered_secret_never_survives_redaction(secret: str, before: str, after: str) -> None:
    # A "secret" the surrounding text and the mask spell out anyway (say "[REDACTE") proves nothing.
    assume(secret not in before + MASK + after)
    register_secret(secret)
    assert secret not in redact_text(before + secret + after)


@pytest.mark.parametrize("value", ["127.0.0.1:²", "localhost:٣", "[::1]:¹²"])
def test_unicode_digits_in_a_host_port_are_not_a_port(value: str) -> None:
    assert parse_host(value)[1] == -1


@FAST
@given(st.binary(max_size=3000), st.sampled_from(["gzip", "deflate", "raw-deflate", ""]), st.data())
def test_the_body_decoder_restores_any_body_in_bounded_pieces_whatever_the_chunking(
    raw: bytes, encoding: str, data: st.DataObject
) -> None:
    packed = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "raw-deflate": lambda b: zlib.compress(b)[2:-4],
        "": lambda b: b,
    }[encoding](raw)
    decoder = BodyDecoder("deflate" if encoding == "raw-deflate" else encoding)
    out: list[bytes] = []
    for chunk in data.draw(chunkings(packed)):
        out.extend(decoder.decode(chunk))
    out.extend(decoder.flush())
    assert b"".join(out) == raw
    assert all(0 < len(piece) <= PIECE for piece in out)


@FAST
@given(st.binary(max_size=200), st.sampled_from(["gzip", "deflate"]))
def test_the_body_decoder_turns_garbage_into_a_value_error(garbage: bytes, encoding: str) -> None:
    decoder = BodyDecoder(encoding)
    try:
        list(decoder.decode(garbage))
        list(decoder.flush())
    except ValueError:
        pass


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip", "x-unknown"])
def test_encodings_the_proxy_never_asked_for_are_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncodingError):
        BodyDecoder(encoding)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=25,
)
json_noise = st.sampled_from(
    [
        b",",
        b",,",
        b":",
        b"[",
        b"]",
        b"{",
        b"}",
        b'"',
        b"\\",
        b"1",
        b"-",
        b"01",
        b"1.",
        b"tru",
        b"nul",
        b" ",
        b"\x00",
        b"\n",
        b"NaN",
        b"\\u12",
        b"\\x",
        b'"a"',
        b"e5",
        b"true",
        b"\xff",
    ]
)


@FAST
@given(json_values, st.lists(st.tuples(st.integers(0, 10_000), json_noise), max_size=3))
def test_the_quick_envelope_scan_never_vouches_for_invalid_json(
    result: object, mutations: list[tuple[int, bytes]]
) -> None:
    raw = bytearray(jsonrpc.encode({"jsonrpc": "2.0", "id": 1, "result": result}))
    for where, noise in mutations:
        at = where % (len(raw) + 1)
        raw[at:at] = noise
    scanned = jsonrpc.envelope(bytes(raw))
    try:
        parsed = json.loads(bytes(raw), parse_constant=_refuse)
    except (ValueError, RecursionError):
        assert scanned is None
        return
    if scanned is not None:
        assert isinstance(parsed, dict)
        assert scanned.keys() == parsed.keys()
        assert scanned.get("id") == parsed.get("id")


def _refuse(name: str) -> None:
    raise ValueError(name)
