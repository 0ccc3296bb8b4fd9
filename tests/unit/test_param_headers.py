from __future__ import annotations

from typing import Any

import pytest

from mcp_oauth2_proxy.param_headers import (
    InvalidAnnotationError,
    ToolHeaders,
    header_value,
    param_headers_of,
)


def _schema(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _tool(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "inputSchema": schema}


def test_annotated_arguments_become_mcp_param_headers_with_the_revisions_encoding() -> None:
    schema = _schema(
        region={"type": "string", "x-mcp-header": "Region"},
        count={"type": "integer", "x-mcp-header": "Count"},
        dry={"type": "boolean", "x-mcp-header": "Dry"},
        nested={
            "type": "object",
            "properties": {"tenant": {"type": "string", "x-mcp-header": "Tenant"}},
        },
        query={"type": "string"},
    )
    tools = ToolHeaders()
    assert tools.learn({"tools": [_tool("sql", schema)]}) == []
    arguments = {"region": "Hello, 世界", "count": -7, "dry": False, "nested": {"tenant": "t1"}}
    assert tools.headers({"name": "sql", "arguments": arguments}) == {
        "Mcp-Param-Region": "=?base64?SGVsbG8sIOS4lueVjA==?=",
        "Mcp-Param-Count": "-7",
        "Mcp-Param-Dry": "false",
        "Mcp-Param-Tenant": "t1",
    }


def test_absent_and_null_arguments_send_no_header() -> None:
    tools = ToolHeaders()
    tools.learn({"tools": [_tool("t", _schema(r={"type": "string", "x-mcp-header": "R"}))]})
    assert tools.headers({"name": "t", "arguments": {}}) == {}
    assert tools.headers({"name": "t", "arguments": {"r": None}}) == {}
    assert tools.headers({"name": "unknown", "arguments": {"r": "x"}}) == {}


@pytest.mark.parametrize(
    "schema",
    [
        _schema(a={"type": "number", "x-mcp-header": "A"}),
        _schema(a={"type": "object", "x-mcp-header": "A"}),
        _schema(a={"type": "string", "x-mcp-header": ""}),
        _schema(a={"type": "string", "x-mcp-header": "Bad Name"}),
        _schema(
            a={"type": "string", "x-mcp-header": "X"}, b={"type": "string", "x-mcp-header": "x"}
        ),
        _schema(a={"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}),
        _schema(a={"oneOf": [{"type": "string", "x-mcp-header": "A"}]}),
        {"type": "string", "x-mcp-header": "Root"},
    ],
)
def test_invalid_annotations_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(InvalidAnnotationError):
        param_headers_of(schema)


def test_tools_with_invalid_annotations_are_reported_for_removal() -> None:
    bad = _tool("bad", _schema(a={"type": "number", "x-mcp-header": "A"}))
    good = _tool("good", _schema(a={"type": "string"}))
    assert ToolHeaders().learn({"tools": [bad, good]}) == ["bad"]


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("us-west1", "us-west1"),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        (True, "true"),
        (42, "42"),
        (2**60, None),
        (1.5, None),
        ({"a": 1}, None),
    ],
)
def test_values_render_as_the_revision_says(value: Any, rendered: str | None) -> None:
    assert header_value(value) == rendered
