from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mcp_oauth2_proxy.auth.www_authenticate import (
    MAX_HEADER_CHARS,
    BearerChallenge,
    bearer_challenge,
    parse_www_authenticate,
)


def bearer(header: str | list[str]) -> BearerChallenge | None:
    return bearer_challenge(parse_www_authenticate(header))


def test_reads_resource_metadata_scope_and_error() -> None:
    got = bearer(
        'Bearer resource_metadata="https://mcp.test/.well-known/oauth-protected-resource", '
        'scope="files:read files:write", error="insufficient_scope"'
    )
    assert got == BearerChallenge(
        resource_metadata="https://mcp.test/.well-known/oauth-protected-resource",
        scope="files:read files:write",
        error="insufficient_scope",
    )


def test_scheme_and_parameter_names_are_case_insensitive() -> None:
    got = bearer('BEARER Resource_Metadata="https://x.test/m", SCOPE=a')
    assert got == BearerChallenge(resource_metadata="https://x.test/m", scope="a")


def test_finds_bearer_among_several_challenges_in_one_header() -> None:
    got = bearer('Basic realm="a, b", Negotiate abc==, Bearer realm="r", scope="s"')
    assert got is not None
    assert got.scope == "s"


def test_finds_bearer_in_a_later_header_line() -> None:
    assert bearer(['Basic realm="x"', 'Bearer error="invalid_token"']) == BearerChallenge(
        error="invalid_token"
    )


def test_quoted_strings_keep_commas_and_unescape_backslashes() -> None:
    challenges = parse_www_authenticate(
        r'Bearer error_description="bad \"token\", really", scope=x'
    )
    assert challenges[0].params["error_description"] == 'bad "token", really'
    assert challenges[0].params["scope"] == "x"


def test_token68_is_read_without_becoming_a_parameter() -> None:
    challenges = parse_www_authenticate("Negotiate YWJjZA==, Bearer scope=x")
    assert challenges[0].token68 == "YWJjZA=="
    assert dict(challenges[0].params) == {}
    assert challenges[1].params["scope"] == "x"


def test_bare_bearer_has_no_parameters() -> None:
    assert bearer("Bearer") == BearerChallenge()


def test_no_bearer_challenge_gives_none() -> None:
    assert bearer('Basic realm="x"') is None
    assert bearer("") is None


def test_unterminated_quote_keeps_what_was_read() -> None:
    assert bearer('Bearer scope="a b') == BearerChallenge(scope="a b")


def test_garbage_between_parameters_is_skipped() -> None:
    assert bearer('Bearer realm="x" junk , scope=a') == BearerChallenge(scope="a")


def test_input_beyond_the_size_bound_is_ignored() -> None:
    header = "Basic " + "a" * MAX_HEADER_CHARS + ", Bearer scope=late"
    assert bearer(header) is None


@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_input(header: str) -> None:
    parse_www_authenticate(header)
