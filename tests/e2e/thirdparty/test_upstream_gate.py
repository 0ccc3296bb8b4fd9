"""The upstream really checks oidc-provider's JWTs, so the flows above prove something."""

from __future__ import annotations

import httpx

from .conftest import Peers
from .peers import SERVICE_CLIENT, SERVICE_SECRET

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "1"},
    },
}


def token_for(peers: Peers, resource: str) -> str:
    with httpx.Client(trust_env=False, timeout=10) as http:
        answer = http.post(
            f"{peers.provider.issuer}/token",
            data={"grant_type": "client_credentials", "scope": "mcp", "resource": resource},
            auth=(SERVICE_CLIENT, SERVICE_SECRET),
        )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def initialize_with(peers: Peers, token: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as http:
        return http.post(
            peers.upstream.url,
            json=INITIALIZE,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
            },
        )


def test_the_upstream_accepts_only_tokens_minted_for_its_own_url(peers: Peers) -> None:
    assert initialize_with(peers, token_for(peers, peers.upstream.url)).status_code == 200

    elsewhere = initialize_with(peers, token_for(peers, "http://127.0.0.1:9/other-mcp"))
    assert elsewhere.status_code == 401
    assert 'error="invalid_token"' in elsewhere.headers["www-authenticate"]

    forged = token_for(peers, peers.upstream.url)[:-4] + "AAAA"
    assert initialize_with(peers, forged).status_code == 401


def test_the_upstream_names_the_provider_in_its_protected_resource_metadata(
    peers: Peers,
) -> None:
    with httpx.Client(trust_env=False, timeout=10) as http:
        challenge = http.post(peers.upstream.url, json=INITIALIZE)
        metadata_url = challenge.headers["www-authenticate"].split('resource_metadata="')[1]
        metadata = http.get(metadata_url.split('"')[0]).json()
    assert challenge.status_code == 401
    assert metadata["resource"] == peers.upstream.url
    assert metadata["authorization_servers"] == [peers.provider.issuer]
