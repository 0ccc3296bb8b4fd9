from __future__ import annotations

import pytest

from mcp_oauth2_proxy.auth.wellknown import (
    authorization_server_metadata_urls,
    canonical_resource_uri,
    legacy_endpoints,
    protected_resource_metadata_urls,
    resource_covers,
    same_issuer,
)


def test_protected_resource_candidates_header_then_path_then_root() -> None:
    assert protected_resource_metadata_urls(
        "https://mcp.test/api/mcp", "https://mcp.test/meta"
    ) == [
        "https://mcp.test/meta",
        "https://mcp.test/.well-known/oauth-protected-resource/api/mcp",
        "https://mcp.test/.well-known/oauth-protected-resource",
    ]


def test_protected_resource_candidates_for_a_root_url() -> None:
    assert protected_resource_metadata_urls("https://mcp.test/") == [
        "https://mcp.test/.well-known/oauth-protected-resource"
    ]


def test_protected_resource_candidates_drop_query_and_keep_port() -> None:
    assert protected_resource_metadata_urls("https://MCP.test:8443/mcp?x=1")[0] == (
        "https://mcp.test:8443/.well-known/oauth-protected-resource/mcp"
    )


def test_authorization_server_candidates_for_an_issuer_with_a_path() -> None:
    assert authorization_server_metadata_urls("https://auth.test/tenant1") == [
        "https://auth.test/.well-known/oauth-authorization-server/tenant1",
        "https://auth.test/.well-known/openid-configuration/tenant1",
        "https://auth.test/tenant1/.well-known/openid-configuration",
    ]


def test_authorization_server_candidates_for_an_issuer_without_a_path() -> None:
    assert authorization_server_metadata_urls("https://auth.test/") == [
        "https://auth.test/.well-known/oauth-authorization-server",
        "https://auth.test/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://MCP.Test/mcp/", "https://mcp.test/mcp"),
        ("https://mcp.test:443/mcp#frag", "https://mcp.test/mcp"),
        ("https://mcp.test:8443/mcp?q=1", "https://mcp.test:8443/mcp"),
        ("https://mcp.test/", "https://mcp.test"),
    ],
)
def test_canonical_resource_uri(url: str, canonical: str) -> None:
    assert canonical_resource_uri(url) == canonical


@pytest.mark.parametrize(
    ("resource", "upstream", "covers"),
    [
        ("https://mcp.test/mcp", "https://mcp.test/mcp", True),
        ("https://mcp.test", "https://mcp.test/mcp", True),
        ("https://mcp.test/", "https://mcp.test/mcp", True),
        ("https://mcp.test/mcp", "https://mcp.test/mcp/v1", True),
        ("https://mcp.test/mcp", "https://mcp.test/mcpx", False),
        ("https://mcp.test/other", "https://mcp.test/mcp", False),
        ("https://evil.test/mcp", "https://mcp.test/mcp", False),
        ("http://mcp.test/mcp", "https://mcp.test/mcp", False),
        ("https://mcp.test:444/mcp", "https://mcp.test/mcp", False),
    ],
)
def test_resource_must_share_origin_and_prefix_the_path(
    resource: str, upstream: str, covers: bool
) -> None:
    assert resource_covers(resource, upstream) is covers


def test_issuer_comparison_tolerates_only_a_trailing_slash() -> None:
    assert same_issuer("https://auth.test", "https://auth.test/")
    assert not same_issuer("https://auth.test", "https://auth.test/x")
    assert not same_issuer("https://auth.test", "https://AUTH.test.evil")


def test_legacy_endpoints_live_at_the_origin() -> None:
    assert legacy_endpoints("https://mcp.test/some/path") == {
        "authorization_endpoint": "https://mcp.test/authorize",
        "token_endpoint": "https://mcp.test/token",
        "registration_endpoint": "https://mcp.test/register",
    }
