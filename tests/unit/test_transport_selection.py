from __future__ import annotations

import json

import pytest

from mcp_oauth2_proxy.errors import UpstreamStatusError
from mcp_oauth2_proxy.jsonrpc import classify, is_modern, is_modern_error_body
from mcp_oauth2_proxy.transport.auto import is_legacy_rejection
from mcp_oauth2_proxy.transport.legacy_sse import ForeignEndpointError, resolve_endpoint

UPSTREAM = "https://mcp.example.com/v1/sse"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("/messages/?session_id=ab", "https://mcp.example.com/messages/?session_id=ab"),
        ("messages?s=1", "https://mcp.example.com/v1/messages?s=1"),
        ("https://mcp.example.com/m", "https://mcp.example.com/m"),
    ],
)
def test_an_endpoint_resolves_against_the_upstream_url(data: str, expected: str) -> None:
    assert resolve_endpoint(UPSTREAM, data) == expected


@pytest.mark.parametrize(
    "data",
    [
        "https://evil.example.com/messages",
        "//evil.example.com/messages",
        "http://mcp.example.com/messages",
        "https://mcp.example.com:8443/messages",
    ],
)
def test_an_endpoint_on_another_origin_is_refused(data: str) -> None:
    with pytest.raises(ForeignEndpointError, match="another origin"):
        resolve_endpoint(UPSTREAM, data)


def _error(code: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "m"}})


@pytest.mark.parametrize("code", [-32020, -32021, -32022, -32601])
def test_modern_protocol_errors_are_recognized(code: int) -> None:
    assert is_modern_error_body(_error(code))


@pytest.mark.parametrize("body", ["", "Not Found", _error(-32600), "[]", "null", '{"error": 1}'])
def test_other_bodies_are_not_modern_errors(body: str) -> None:
    assert not is_modern_error_body(body)


@pytest.mark.parametrize(
    ("status", "body", "legacy"),
    [
        (405, "", True),
        (404, "Not Found", True),
        (400, "Bad Request: Missing session ID", True),
        (400, _error(-32022), False),
        (404, _error(-32601), False),
        (401, "", False),
        (500, "", False),
    ],
)
def test_only_a_non_modern_400_404_or_405_to_initialize_means_legacy_sse(
    status: int, body: str, legacy: bool
) -> None:
    exc = UpstreamStatusError("x", status=status, body=body)
    assert is_legacy_rejection(exc) is legacy


def test_a_request_is_modern_when_its_meta_names_2026_07_28_or_later() -> None:
    def message(version: str | None) -> bool:
        meta = {"io.modelcontextprotocol/protocolVersion": version} if version else {}
        return is_modern(
            classify({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"_meta": meta}})
        )

    assert message("2026-07-28")
    assert message("2027-01-01")
    assert not message("2025-11-25")
    assert not message(None)
