from __future__ import annotations

import json

import pytest

from mcp_oauth2_proxy import jsonrpc
from mcp_oauth2_proxy.jsonrpc import Kind


@pytest.mark.parametrize(
    ("value", "kind", "msg_id"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Kind.REQUEST, 1),
        ({"jsonrpc": "2.0", "id": "a", "method": "ping"}, Kind.REQUEST, "a"),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, Kind.NOTIFICATION, None),
        ({"jsonrpc": "2.0", "id": 3, "result": {}}, Kind.RESPONSE, 3),
        ({"jsonrpc": "2.0", "id": 3, "error": {"code": 1, "message": "x"}}, Kind.RESPONSE, 3),
        (None, Kind.INVALID, None),
        (42, Kind.INVALID, None),
        ([], Kind.INVALID, None),
        ({"id": 9, "method": "ping"}, Kind.INVALID, 9),
        ({"jsonrpc": "2.0", "id": 9, "method": 5}, Kind.INVALID, 9),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, Kind.INVALID, None),
        ({"jsonrpc": "2.0", "id": 4, "result": 1, "error": {}}, Kind.INVALID, 4),
    ],
)
def test_messages_are_classified_by_json_rpc_rules(
    value: object, kind: Kind, msg_id: object
) -> None:
    message = jsonrpc.classify(value)
    assert (message.kind, message.id) == (kind, msg_id)


def test_a_batch_expects_answers_for_its_requests_only() -> None:
    batch = jsonrpc.classify(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "a"},
            {"jsonrpc": "2.0", "method": "n"},
            {"jsonrpc": "2.0", "id": "x", "method": "b"},
            {"jsonrpc": "2.0", "id": 5, "result": 1},
        ]
    )
    assert batch.kind is Kind.BATCH
    assert batch.request_ids == (1, "x")


@pytest.mark.parametrize(
    ("raw", "reason"), [(b"{bad", "invalid JSON"), (b"\xff\xfe", "invalid UTF-8")]
)
def test_unparsable_lines_raise_parse_error(raw: bytes, reason: str) -> None:
    with pytest.raises(jsonrpc.ParseError, match=reason):
        jsonrpc.parse(raw)


def test_error_replies_have_the_documented_codes_and_data() -> None:
    assert jsonrpc.parse_error("x")["error"]["code"] == -32700
    assert jsonrpc.parse_error("x")["id"] is None
    assert jsonrpc.invalid_request(7, "r") == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32600, "message": "Invalid Request", "data": {"reason": "r"}},
    }
    status = jsonrpc.upstream_status_error("q", 503, "y" * 900)
    assert status["error"]["code"] == -32001
    assert status["error"]["data"] == {"status": 503, "body": "y" * 500}
    transport = jsonrpc.transport_error(1, "timed out")
    assert (transport["error"]["code"], transport["error"]["data"]) == (
        -32000,
        {"reason": "timed out"},
    )


def test_encode_produces_one_compact_utf8_line() -> None:
    line = jsonrpc.encode({"text": "é\nz"})
    assert b"\n" not in line
    assert json.loads(line) == {"text": "é\nz"}
    assert "é".encode() in line


def test_cancellation_names_the_request_it_cancels() -> None:
    cancel = jsonrpc.classify(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4}}
    )
    assert jsonrpc.cancelled_request_id(cancel) == 4
    other = jsonrpc.classify(
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"requestId": 4}}
    )
    assert jsonrpc.cancelled_request_id(other) is None


def test_routing_headers_apply_from_2026_07_28_and_encode_unsafe_names() -> None:
    call = jsonrpc.classify(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ünï"}}
    )
    assert jsonrpc.routing_headers(call)["Mcp-Method"] == "tools/call"
    assert jsonrpc.routing_headers(call)["Mcp-Name"] == "=?base64?w7xuw68=?="
    assert jsonrpc.uses_routing_headers("2026-07-28")
    assert not jsonrpc.uses_routing_headers("2025-11-25")
    assert jsonrpc.encode_header_value("echo") == "echo"


def test_the_negotiated_version_is_read_from_an_initialize_result() -> None:
    assert (
        jsonrpc.negotiated_version({"id": 0, "result": {"protocolVersion": "2025-06-18"}})
        == "2025-06-18"
    )
    assert jsonrpc.negotiated_version({"id": 0, "error": {}}) is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"a\\"}{b\\\\"}]}}',
        b' {"id":"x","method":"m","params":[1,-2.5e3,true,null,{"a":[]}]} ',
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"\xc3\xa9"}}',
        b"{}",
    ],
)
def test_envelope_reads_the_top_level_as_a_full_parse_would(raw: bytes) -> None:
    full = json.loads(raw)
    shape = jsonrpc.envelope(raw)
    assert shape is not None
    assert shape.keys() == full.keys()
    for key, value in shape.items():
        assert value == (None if isinstance(full[key], dict | list) else full[key])
    assert jsonrpc.response_ids([shape]) == jsonrpc.response_ids([full])


@pytest.mark.parametrize(
    "raw",
    [
        b"[1]",
        b'{"a":tru}',
        b'{"a":{"b":tru}}',
        b'{"a":1,}',
        b'{"a":"\xff"}',
        b'{"a":"unterminated}',
        b'{"a":["' + b"x" * 2_000_000 + b'\\q"]}',
        b'{"a":["' + b"x" * 2_000_000 + b'\\u12"]}',
        b'{"a":["' + b"x" * 2_000_000 + b'\x01"]}',
        b'{"a":{"b":1}',
        b'{"a":1} x',
        b"{a:1}",
        b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    ],
)
def test_envelope_leaves_anything_it_cannot_vouch_for_to_the_full_parser(raw: bytes) -> None:
    assert jsonrpc.envelope(raw) is None


def test_envelope_routes_a_64_mb_result_by_its_id() -> None:
    text = b"x" * 64_000_000
    raw = b'{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"' + text + b'"}]}}'
    assert jsonrpc.envelope(raw) == {"jsonrpc": "2.0", "id": 3, "result": None}
