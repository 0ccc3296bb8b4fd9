"""JSON-RPC 2.0 values for the demo MCP server (pure)."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

RequestId = str | int


class RpcError(Exception):
    """A JSON-RPC error to answer a request with."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def result(request_id: RequestId, value: dict[str, Any]) -> dict[str, Any]:
    """Return a success response."""
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(
    request_id: RequestId | None, code: int, message: str, data: Any = None
) -> dict[str, Any]:
    """Return an error response."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": err}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return a notification message."""
    return {"jsonrpc": "2.0", "method": method, "params": params}


def is_request(message: dict[str, Any]) -> bool:
    """True for a message with a method and an id."""
    return "method" in message and "id" in message


def is_notification(message: dict[str, Any]) -> bool:
    """True for a message with a method and no id."""
    return "method" in message and "id" not in message


def is_response(message: dict[str, Any]) -> bool:
    """True for a response (result or error) to a server-initiated request."""
    return (
        "method" not in message and "id" in message and ("result" in message or "error" in message)
    )


def check_message(message: object) -> dict[str, Any]:
    """Return ``message`` if it is a JSON-RPC 2.0 object, else raise INVALID_REQUEST."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 message")
    if "method" in message and not isinstance(message["method"], str):
        raise RpcError(INVALID_REQUEST, "method must be a string")
    if "id" in message and (
        isinstance(message["id"], bool) or not isinstance(message["id"], str | int)
    ):
        raise RpcError(INVALID_REQUEST, "id must be a string or an integer")
    if not (is_request(message) or is_notification(message) or is_response(message)):
        raise RpcError(INVALID_REQUEST, "neither a request, a notification nor a response")
    return message


__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "RESOURCE_NOT_FOUND",
    "RequestId",
    "RpcError",
    "check_message",
    "error",
    "is_notification",
    "is_request",
    "is_response",
    "notification",
    "result",
]
