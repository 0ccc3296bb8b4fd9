"""The secure-URL rule and origin comparison."""

from __future__ import annotations

import pytest

from mcp_oauth2_proxy.errors import InsecureUrlError
from mcp_oauth2_proxy.urls import check_secure_url, is_loopback_host, origin


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/mcp",
        "http://127.0.0.1:3000/mcp",
        "http://127.8.9.10/mcp",
        "http://localhost/mcp",
        "http://LOCALHOST:1/mcp",
        "http://[::1]:8080/mcp",
    ],
)
def test_secure_urls_pass(url: str) -> None:
    assert check_secure_url(url, allow_insecure_http=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/mcp",
        "http://localhost:80@attacker.test/",
        "http://127.0.0.1.attacker.test/",
        "http://localhost.attacker.test/",
        "http://169.254.169.254/latest",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.com/",
        "https:///nohost",
        "http://[::1",
        "https://example.com:99999/",
    ],
)
def test_insecure_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InsecureUrlError):
        check_secure_url(url, allow_insecure_http=False)


def test_opt_in_allows_cleartext_but_never_other_schemes() -> None:
    assert check_secure_url("http://example.com/", allow_insecure_http=True)
    with pytest.raises(InsecureUrlError):
        check_secure_url("file:///x", allow_insecure_http=True)


def test_loopback_detection_is_exact() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("127.0.0.1.nip.io")
    assert not is_loopback_host(None)
    assert not is_loopback_host("0.0.0.0")  # noqa: S104


def test_origin_drops_default_ports_and_case() -> None:
    assert origin("HTTPS://Example.COM:443/a?b") == "https://example.com"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("https://a.example:8443/") != origin("https://a.example/")
