"""Small HTTP helpers shared by the server endpoints: forms, JSON, OAuth errors.

The form parser is hand-written over ``urllib.parse`` so the server needs no
multipart package at run time; it also enforces RFC 6749 §3.1 (no repeated
parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import ProxyError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 64 * 1024


class OAuthProtocolError(ProxyError):
    """An OAuth error answer (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7591 §3.2.2).

    Raised inside the server's endpoint logic and turned into a JSON response
    at the endpoint boundary; it never leaves the server package.
    """

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """Return the JSON error body."""
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


def oauth_error_response(exc: OAuthProtocolError) -> JSONResponse:
    """Render ``exc`` as a no-store JSON error response."""
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})


def json_no_store(body: Mapping[str, Any], status: int = 200) -> JSONResponse:
    """Return a JSON response that caches must not keep (tokens, credentials)."""
    return JSONResponse(dict(body), status_code=status, headers=NO_STORE)


def parse_form(body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body into single values.

    Raises:
        OAuthProtocolError: ``invalid_request`` for a repeated parameter or bad encoding.
    """
    if len(body) > MAX_FORM_BYTES:
        raise OAuthProtocolError("invalid_request", "request body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthProtocolError("invalid_request", "malformed form body") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthProtocolError("invalid_request", f"parameter {key} repeated")
        form[key] = value
    # RFC 6749 §3.1: parameters sent without a value are treated as omitted.
    return {k: v for k, v in form.items() if v != ""}


async def read_form(request: Request) -> dict[str, str]:
    """Read and parse a form POST, insisting on the form content type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthProtocolError(
            "invalid_request", "content type must be application/x-www-form-urlencoded"
        )
    return parse_form(await request.body())


def single_query(request: Request) -> dict[str, str]:
    """Return query parameters as single values, refusing repeats (RFC 6749 §3.1)."""
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in out:
            raise OAuthProtocolError("invalid_request", f"parameter {key} repeated")
        if value != "":
            out[key] = value
    return out


def split_scope(scope: str | None) -> frozenset[str]:
    """Split a space-delimited scope string (RFC 6749 §3.3)."""
    return frozenset(s for s in (scope or "").split(" ") if s)


def join_scope(scopes: frozenset[str] | set[str] | tuple[str, ...]) -> str:
    """Join scopes in a stable order."""
    return " ".join(sorted(scopes))


__all__ = [
    "NO_STORE",
    "OAuthProtocolError",
    "join_scope",
    "json_no_store",
    "oauth_error_response",
    "parse_form",
    "read_form",
    "single_query",
    "split_scope",
]
