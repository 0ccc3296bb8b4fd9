"""Helpers that walk the OAuth flows against the in-process demo servers."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from mcp_oauth2_proxy.server.pkce import s256

ISSUER = "http://127.0.0.1:9000"
MCP_URL = "http://127.0.0.1:9001/mcp"
REDIRECT_URI = "http://127.0.0.1:53682/callback"


@dataclass(frozen=True)
class Pkce:
    verifier: str

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


def new_pkce() -> Pkce:
    return Pkce(secrets.token_urlsafe(48))


async def register(auth: httpx.AsyncClient, **metadata: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_name": "test client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    }
    body.update(metadata)
    response = await auth.post("/register", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def authorize_params(client_id: str, pkce: Pkce, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "state": "state-123",
        "resource": MCP_URL,
        "scope": "mcp offline_access",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(auth: httpx.AsyncClient, client_id: str, pkce: Pkce, **extra: str) -> str:
    response = await auth.get("/authorize", params=authorize_params(client_id, pkce, **extra))
    query = redirect_query(response)
    assert "code" in query, query
    return query["code"]


async def token(http: httpx.AsyncClient, form: Mapping[str, str], **kwargs: Any) -> httpx.Response:
    return await http.post("/token", data=dict(form), **kwargs)


async def login(auth: httpx.AsyncClient, client_id: str | None = None) -> dict[str, Any]:
    """Register (unless given a client), authorize and redeem; return the token response."""
    client_id = client_id or (await register(auth))["client_id"]
    pkce = new_pkce()
    code = await get_code(auth, client_id, pkce)
    response = await token(
        auth,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier,
            "client_id": client_id,
            "resource": MCP_URL,
        },
    )
    assert response.status_code == 200, response.text
    return {"client_id": client_id, **response.json()}


MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}


def rpc(method: str, request_id: int | None = 1, **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params:
        message["params"] = params
    if request_id is not None:
        message["id"] = request_id
    return message


def initialize_message(version: str = "2025-11-25") -> dict[str, Any]:
    return rpc(
        "initialize",
        0,
        protocolVersion=version,
        capabilities={},
        clientInfo={"name": "test", "version": "1"},
    )


def sse_messages(body: str) -> list[dict[str, Any]]:
    import json

    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out
