"""Discovery under attack: hostile metadata never redirects the login or exhausts the proxy."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.auth.callback import CallbackConfig
from mcp_oauth2_proxy.auth.discovery import DiscoveryOptions, discover, secure
from mcp_oauth2_proxy.auth.grants import RequestOptions, build_authorization_url
from mcp_oauth2_proxy.auth.login import browser_login
from mcp_oauth2_proxy.auth.pkce import new_pkce
from mcp_oauth2_proxy.auth.server import ServerConfig
from mcp_oauth2_proxy.auth.www_authenticate import bearer_challenge, parse_www_authenticate
from mcp_oauth2_proxy.errors import AuthError, DiscoveryError, InsecureUrlError
from mcp_oauth2_proxy.urls import check_secure_url

from .conftest import CountingBody, Recorder, routes

pytestmark = pytest.mark.anyio

UPSTREAM = "https://mcp.test/mcp"
PRM = "https://mcp.test/.well-known/oauth-protected-resource/mcp"
AS = "https://auth.test"
AS_META = "https://auth.test/.well-known/oauth-authorization-server"


def challenge_401(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer resource_metadata="{PRM}"'})


def good_as(**overrides: object) -> dict[str, object]:
    return {
        "issuer": AS,
        "authorization_endpoint": f"{AS}/authorize",
        "token_endpoint": f"{AS}/token",
        "code_challenge_methods_supported": ["S256"],
        **overrides,
    }


async def run(table: dict[str, object], **opts: object) -> tuple[Recorder, object]:
    rec = Recorder(routes({UPSTREAM: challenge_401, **table}))
    async with rec.client() as http:
        try:
            result: object = await discover(http, UPSTREAM, options=DiscoveryOptions(**opts))  # type: ignore[arg-type]
        except DiscoveryError as exc:
            result = exc
    return rec, result


@pytest.mark.parametrize(
    "resource",
    [
        "https://attacker.test/mcp",  # another origin
        "https://mcp.test:8443/mcp",  # another port is another origin
        "http://mcp.test/mcp",  # another scheme
        "https://mcp.test/mc",  # a prefix that is not a path segment
        "https://mcp.test/mcp/admin",  # narrower than the upstream
    ],
)
async def test_resource_metadata_for_another_resource_stops_discovery_before_the_issuer(
    resource: str,
) -> None:
    rec, result = await run({PRM: {"resource": resource, "authorization_servers": [AS]}})
    assert isinstance(result, DiscoveryError)
    assert "refusing" in str(result)
    assert "auth.test" not in rec.hosts()


async def test_a_path_prefix_trick_does_not_cover_a_longer_segment() -> None:
    upstream = "https://mcp.test/api123/mcp"
    prm = "https://mcp.test/.well-known/oauth-protected-resource/api123/mcp"
    rec = Recorder(
        routes(
            {
                upstream: challenge_401,
                prm: {"resource": "https://mcp.test/api", "authorization_servers": [AS]},
            }
        )
    )
    async with rec.client() as http:
        with pytest.raises(DiscoveryError, match="does not cover"):
            await discover(http, upstream)
    assert "auth.test" not in rec.hosts()


async def test_authorization_server_metadata_with_another_issuer_is_refused() -> None:
    rec, result = await run(
        {
            PRM: {"resource": UPSTREAM, "authorization_servers": [AS]},
            AS_META: good_as(issuer="https://attacker.test"),
        }
    )
    assert isinstance(result, DiscoveryError)
    assert "issuer" in str(result)
    assert rec.hosts() == {"mcp.test", "auth.test"}


@pytest.mark.parametrize(
    "field", ["authorization_endpoint", "token_endpoint", "registration_endpoint"]
)
@pytest.mark.parametrize(
    "url",
    [
        "http://auth.test/x",
        "ftp://auth.test/x",
        "javascript:alert(1)",
        "http://localhost:80@attacker.test/x",
        "http://127.0.0.1.attacker.test/x",
        "http://169.254.169.254/latest/meta-data/",
        "https://",
    ],
)
async def test_insecure_discovered_endpoints_are_refused(field: str, url: str) -> None:
    rec, result = await run(
        {
            PRM: {"resource": UPSTREAM, "authorization_servers": [AS]},
            AS_META: good_as(**{field: url}),
        }
    )
    assert isinstance(result, DiscoveryError)
    assert "unacceptable URL" in str(result)
    assert "attacker.test" not in rec.hosts()
    assert "169.254.169.254" not in rec.hosts()


@pytest.mark.parametrize(
    "issuer", ["http://localhost:80@attacker.test/", "http://127.0.0.1.attacker.test/", "data:,x"]
)
async def test_a_disguised_authorization_server_is_refused_without_contacting_it(
    issuer: str,
) -> None:
    rec, result = await run({PRM: {"resource": UPSTREAM, "authorization_servers": [issuer]}})
    assert isinstance(result, DiscoveryError)
    assert "attacker.test" not in rec.hosts()


async def test_a_remote_upstream_cannot_point_discovery_at_loopback_services() -> None:
    rec, result = await run(
        {PRM: {"resource": UPSTREAM, "authorization_servers": ["http://127.0.0.1:8080/admin"]}}
    )
    assert isinstance(result, DiscoveryError)
    assert "127.0.0.1" not in rec.hosts()


async def test_a_remote_upstream_cannot_send_the_metadata_probe_to_loopback() -> None:
    def header_to_loopback(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer resource_metadata="http://localhost:2375/x"'}
        )

    rec = Recorder(routes({UPSTREAM: header_to_loopback}))
    async with rec.client() as http:
        with pytest.raises(DiscoveryError):
            await discover(http, UPSTREAM)
    assert rec.hosts() == {"mcp.test"}


async def test_a_loopback_upstream_may_use_a_loopback_authorization_server() -> None:
    upstream = "http://127.0.0.1:9/mcp"
    rec = Recorder(
        routes(
            {
                "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp": {
                    "resource": upstream,
                    "authorization_servers": ["http://localhost:10"],
                },
                "http://localhost:10/.well-known/oauth-authorization-server": {
                    "issuer": "http://localhost:10",
                    "authorization_endpoint": "http://localhost:10/authorize",
                    "token_endpoint": "http://localhost:10/token",
                },
            }
        )
    )
    async with rec.client() as http:
        found = await discover(http, upstream)
    assert found.issuer == "http://localhost:10"


async def test_a_metadata_redirect_to_the_cloud_metadata_service_is_not_followed() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    rec, result = await run(
        {PRM: redirect, "https://mcp.test/.well-known/oauth-protected-resource": redirect}
    )
    assert "169.254.169.254" not in rec.hosts()
    assert not isinstance(result, Exception) or isinstance(result, DiscoveryError)


@pytest.mark.parametrize("total", [200 * 1024 * 1024, None], ids=["200MB", "endless"])
async def test_a_huge_or_endless_metadata_body_is_cut_at_the_cap(total: int | None) -> None:
    body = CountingBody(b"x" * 65536, total)

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=body)

    started = time.monotonic()
    _, result = await run({PRM: huge})
    assert isinstance(result, DiscoveryError)
    assert "larger than" in str(result)
    assert body.sent <= 1024 * 1024
    assert time.monotonic() - started < 5


async def test_a_trickling_metadata_server_hits_the_total_deadline() -> None:
    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                await anyio.sleep(0.01)  # each byte well inside any read timeout
                yield b" "

    def slow(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Trickle())

    started = time.monotonic()
    _, result = await run({PRM: slow}, timeout_seconds=0.2)
    assert isinstance(result, DiscoveryError)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"a":' * 80_000 + b"1" + b"}" * 80_000,
    ],
    ids=["arrays", "objects"],
)
async def test_deeply_nested_metadata_is_a_bad_document_not_a_crash(
    body: bytes, log_stream: io.StringIO
) -> None:
    def nested(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    _, result = await run({PRM: nested, AS_META: nested})
    assert not isinstance(result, Exception)
    assert "oauth.discovery_bad_document" in log_stream.getvalue()


@pytest.mark.parametrize(
    "document",
    [
        httpx.Response(200, json=good_as(authorization_endpoint=42)),
        httpx.Response(200, json=good_as(code_challenge_methods_supported="S256")),
        httpx.Response(200, json=[good_as()]),
        httpx.Response(
            200, text="<html><body>Sign in</body></html>", headers={"Content-Type": "text/html"}
        ),
        httpx.Response(200, content=b"\xff\xfe\x00garbage"),
    ],
    ids=["number-endpoint", "string-list", "array", "html", "binary"],
)
async def test_metadata_of_the_wrong_shape_is_never_used(
    document: httpx.Response, log_stream: io.StringIO
) -> None:
    _, result = await run(
        {PRM: {"resource": UPSTREAM, "authorization_servers": [AS]}, AS_META: document}
    )
    assert not isinstance(result, Exception)
    assert result.server_metadata is None  # type: ignore[attr-defined]
    assert "oauth.discovery_bad_document" in log_stream.getvalue()


async def test_a_server_without_s256_gets_no_login_and_no_listener() -> None:
    opened: list[str] = []

    class Opener:
        def open(self, url: str) -> bool:
            opened.append(url)
            return True

    server = ServerConfig(
        identity=AS,
        issuer=AS,
        authorization_endpoint=f"{AS}/authorize",
        token_endpoint=f"{AS}/token",
        registration_endpoint=None,
        resource=UPSTREAM,
        scope=None,
        pkce_methods=("plain",),
    )
    with pytest.raises(AuthError, match="S256"):
        await browser_login(
            server=server,
            client_id="c",
            tokens=None,  # type: ignore[arg-type] - never reached
            options=RequestOptions(),
            callback=CallbackConfig(port=0),
            opener=Opener(),
            stderr=io.StringIO(),
        )
    assert opened == []


@pytest.mark.parametrize(
    "header",
    [
        'Bearer resource_metadata="' + "a" * 65536 + '"',
        "Bearer " + 'x="' * 20000,
        'Bearer error="invalid_token, scope="a b',
        "Bearer " + "a=b, " * 20000,
        "," * 65536,
        'Bearer realm="\\',
    ],
    ids=["64KB-value", "open-quotes", "unbalanced", "many-params", "commas", "escape-at-end"],
)
def test_hostile_www_authenticate_headers_parse_quickly_without_raising(header: str) -> None:
    started = time.monotonic()
    bearer_challenge(parse_www_authenticate(header))
    bearer_challenge(parse_www_authenticate([header] * 8))
    assert time.monotonic() - started < 1.0


def test_a_64_kb_www_authenticate_never_yields_an_unbounded_value() -> None:
    found = bearer_challenge(parse_www_authenticate('Bearer scope="' + "s " * 40000 + '"'))
    assert found is None or len(found.scope or "") <= 16 * 1024


def test_an_authorization_endpoint_query_is_merged_not_doubled() -> None:
    url = build_authorization_url(
        "https://auth.test/authorize?tenant=acme&client_id=evil&state=forged&prompt=login",
        client_id="ours",
        redirect_uri="http://127.0.0.1:1/callback",
        state="s" * 43,
        pkce=new_pkce(),
        options=RequestOptions(scope="read"),
    )
    query = httpx.URL(url).params
    assert query.get_list("client_id") == ["ours"]
    assert query.get_list("state") == ["s" * 43]
    assert query.get_list("tenant") == ["acme"]
    assert query.get_list("prompt") == ["login"]
    assert url.count("?") == 1


def test_the_secure_rule_treats_lookalike_loopback_hosts_as_remote() -> None:
    opts = DiscoveryOptions()
    for url in (
        "http://localhost:80@attacker.test/",
        "http://127.0.0.1.attacker.test/",
        "http://localhost.attacker.test/",
        "http://0x7f.attacker.test/",
        "http://[::1].attacker.test/",
    ):
        with pytest.raises(DiscoveryError):
            secure(url, opts, "test")


@pytest.mark.parametrize(
    "url",
    ["http://[::1].attacker.test/", "http://[::1]x/", "http://[::1]:80x/", "http://local host/"],
)
def test_malformed_hosts_are_invalid_rather_than_loopback(url: str) -> None:
    with pytest.raises(InsecureUrlError, match="not a valid URL"):
        check_secure_url(url, allow_insecure_http=False)
