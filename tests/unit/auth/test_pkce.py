from __future__ import annotations

from mcp_oauth2_proxy.auth.pkce import (
    is_valid_verifier,
    new_pkce,
    new_state,
    s256_challenge,
    same_secret,
    supports_s256,
)


def test_s256_matches_the_rfc_7636_appendix_b_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_verifiers_are_valid_unique_and_challenged_with_s256() -> None:
    a, b = new_pkce(), new_pkce()
    assert a.verifier != b.verifier
    assert is_valid_verifier(a.verifier)
    assert a.method == "S256"
    assert a.challenge == s256_challenge(a.verifier)


def test_verifier_rules() -> None:
    assert not is_valid_verifier("short")
    assert not is_valid_verifier("a" * 129)
    assert not is_valid_verifier("a" * 42 + "!")


def test_state_is_fresh_and_compared_exactly() -> None:
    state = new_state()
    assert state != new_state()
    assert len(state) >= 43
    assert same_secret(state, state)
    assert not same_secret(state, state[:-1])
    assert not same_secret(state, None)


def test_s256_support_is_refused_only_when_methods_are_listed_without_it() -> None:
    assert supports_s256(None)
    assert supports_s256(("plain", "S256"))
    assert not supports_s256(("plain",))
