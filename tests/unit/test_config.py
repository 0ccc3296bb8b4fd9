"""Settings: sources, precedence, validation and the error line a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_oauth2_proxy.config import load_settings, parse_bool
from mcp_oauth2_proxy.errors import ConfigError
from mcp_oauth2_proxy.settings_table import SETTINGS

URL = "https://mcp.example.com/mcp"


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


def error_of(**kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return info.value


def test_defaults_match_the_spec() -> None:
    s = load_settings(env={"UPSTREAM_URL": URL})
    assert s.upstream.timeout_ms == 300_000
    assert s.upstream.open_server_stream is True
    assert s.upstream.transport == "auto"
    assert s.log.level == "info"
    assert s.discovery.enabled is True
    assert s.oauth2.grant == "authorization_code"
    assert s.oauth2.callback_port == 53682
    assert s.oauth2.callback_host == "127.0.0.1"
    assert s.oauth2.refresh_skew_seconds == 30
    assert s.oauth2.token_store == "auto"


def test_environment_wins_over_file_and_flags_win_over_both(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL, "timeoutMs": 1000}, "log": {"level": "warn"}})
    env = {"MCP_PROXY_CONFIG": path, "UPSTREAM_TIMEOUT_MS": "2000", "LOG_LEVEL": "debug"}
    s = load_settings(env=env, flags={"log.level": ("error", "--log-level")})
    assert s.upstream.timeout_ms == 2000
    assert s.log.level == "error"
    assert s.upstream.url == URL


def test_every_environment_variable_reaches_its_field() -> None:
    env = {
        "UPSTREAM_URL": URL,
        "UPSTREAM_TIMEOUT_MS": "1234",
        "UPSTREAM_OPEN_SERVER_STREAM": "off",
        "UPSTREAM_PROTOCOL_VERSION": "2025-06-18",
        "UPSTREAM_HEADERS": '{"X-Team": "blue"}',
        "UPSTREAM_TRANSPORT": "sse",
        "UPSTREAM_MAX_MESSAGE_BYTES": "2048",
        "MAX_LINE_BYTES": "4096",
        "LOG_LEVEL": "trace",
        "LOG_FORMAT": "json",
        "DISCOVERY_ENABLED": "No",
        "ALLOW_INSECURE_HTTP": "YES",
        "OAUTH2_GRANT": "client_credentials",
        "OAUTH2_TOKEN_URL": "https://idp.example.com/token",
        "OAUTH2_AUTHORIZATION_URL": "https://idp.example.com/authorize",
        "OAUTH2_DEVICE_AUTHORIZATION_URL": "https://idp.example.com/device",
        "OAUTH2_CLIENT_ID": "cid",
        "OAUTH2_CLIENT_SECRET": "csecret",
        "OAUTH2_CLIENT_METADATA_URL": "https://app.example.com/client.json",
        "OAUTH2_SCOPE": "a b",
        "OAUTH2_RESOURCE": "https://mcp.example.com/mcp",
        "OAUTH2_AUDIENCE": "aud",
        "OAUTH2_AUTH_STYLE": "header",
        "OAUTH2_CLIENT_ASSERTION_KEY_FILE": "key.pem",
        "OAUTH2_CLIENT_ASSERTION_KEY": "-----BEGIN-----",
        "OAUTH2_CLIENT_ASSERTION_ALG": "ES256",
        "OAUTH2_REFRESH_SKEW_SECONDS": "60",
        "OAUTH2_EXTRA_PARAMS": '{"prompt": "consent"}',
        "OAUTH2_AUTHORIZATION_CODE": "code1",
        "OAUTH2_CODE_VERIFIER": "verifier1",
        "OAUTH2_REFRESH_TOKEN": "rt1",
        "OAUTH2_REDIRECT_URI": "http://127.0.0.1:9000/callback",
        "OAUTH2_INTERACTIVE": "0",
        "OAUTH2_OPEN_BROWSER": "false",
        "OAUTH2_CALLBACK_HOST": "::1",
        "OAUTH2_CALLBACK_PORT": "0",
        "OAUTH2_CALLBACK_TIMEOUT_SECONDS": "60",
        "OAUTH2_TOKEN_CACHE_DIR": "cache",
        "OAUTH2_TOKEN_STORE": "memory",
    }
    assert set(env) == {s.env for s in SETTINGS}, "this test must cover every setting"
    s = load_settings(env=env)
    o = s.oauth2
    assert (s.upstream.timeout_ms, s.upstream.open_server_stream) == (1234, False)
    assert s.upstream.headers == {"X-Team": "blue"}
    assert (s.upstream.protocol_version, s.upstream.transport) == ("2025-06-18", "sse")
    assert (s.upstream.max_message_bytes, s.max_line_bytes) == (2048, 4096)
    assert (s.log.level, s.log.format, s.discovery.enabled, s.allow_insecure_http) == (
        "trace",
        "json",
        False,
        True,
    )
    assert o.device_authorization_url == "https://idp.example.com/device"
    assert o.client_secret is not None
    assert o.client_secret.get_secret_value() == "csecret"
    assert o.client_assertion_key is not None
    assert o.refresh_token is not None
    assert o.refresh_token.get_secret_value() == "rt1"
    assert (o.grant, o.auth_style, o.client_assertion_alg) == (
        "client_credentials",
        "header",
        "ES256",
    )
    assert (o.interactive, o.open_browser, o.callback_port, o.callback_host) == (
        False,
        False,
        0,
        "::1",
    )
    assert o.extra_params == {"prompt": "consent"}
    assert (o.token_store, o.token_cache_dir, o.callback_timeout_seconds) == ("memory", "cache", 60)


def test_secrets_are_hidden_from_repr() -> None:
    s = load_settings(env={"UPSTREAM_URL": URL, "OAUTH2_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(s)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "upstream.url is required"),
        ({"UPSTREAM_URL": "http://example.com/mcp"}, "environment variable UPSTREAM_URL"),
        ({"UPSTREAM_URL": "ftp://example.com/mcp"}, "upstream.url"),
        ({"UPSTREAM_URL": URL, "OAUTH2_CALLBACK_PORT": "abc"}, "OAUTH2_CALLBACK_PORT"),
        ({"UPSTREAM_URL": URL, "OAUTH2_CALLBACK_PORT": "70000"}, "from 0 to 65535"),
        ({"UPSTREAM_URL": URL, "UPSTREAM_TIMEOUT_MS": "1.5"}, "whole number"),
        ({"UPSTREAM_URL": URL, "UPSTREAM_OPEN_SERVER_STREAM": "maybe"}, "yes/no"),
        ({"UPSTREAM_URL": URL, "OAUTH2_EXTRA_PARAMS": "{bad"}, "not valid JSON"),
        ({"UPSTREAM_URL": URL, "OAUTH2_EXTRA_PARAMS": "[1]"}, "oauth2.extraParams"),
        ({"UPSTREAM_URL": URL, "LOG_LEVEL": "verbose"}, "one of trace, debug"),
        ({"UPSTREAM_URL": URL, "OAUTH2_TOKEN_URL": "http://idp.example.com/t"}, "oauth2.tokenUrl"),
        ({"UPSTREAM_URL": URL, "OAUTH2_CALLBACK_HOST": "0.0.0.0"}, "oauth2.callbackHost"),  # noqa: S104
        ({"UPSTREAM_URL": URL, "OAUTH2_CLIENT_METADATA_URL": "http://localhost/c"}, "https"),
        ({"UPSTREAM_URL": URL, "UPSTREAM_HEADERS": '{"Bad Name": "x"}'}, "header name"),
        ({"UPSTREAM_URL": URL, "UPSTREAM_HEADERS": '{"X-Key": "${NOPE_UNSET}"}'}, "NOPE_UNSET"),
    ],
)
def test_invalid_input_names_the_field_and_source(env: dict[str, str], needle: str) -> None:
    err = error_of(env=env)
    assert needle in err.message
    assert err.exit_code == 2
    assert "\n" not in err.message


def test_cleartext_to_a_remote_host_is_accepted_when_explicitly_allowed() -> None:
    s = load_settings(env={"UPSTREAM_URL": "http://example.com/mcp", "ALLOW_INSECURE_HTTP": "on"})
    assert s.allow_insecure_http is True


def test_loopback_http_needs_no_opt_in() -> None:
    for url in ("http://127.0.0.1:8080/mcp", "http://localhost/mcp", "http://[::1]:9/mcp"):
        assert load_settings(env={"UPSTREAM_URL": url}).upstream.url == url


def test_a_secret_value_is_never_echoed_in_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL}, "oauth2": {"clientSecret": ["hunter2-x"]}})
    err = error_of(env={"MCP_PROXY_CONFIG": path})
    assert "oauth2.clientSecret" in err.message
    assert "hunter2" not in err.message
    err = error_of(env={"UPSTREAM_URL": URL, "UPSTREAM_HEADERS": '{"X-Key": "abc\\ndef"}'})
    assert "abc" not in err.message


def test_unknown_file_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL, "timeoutMS": 5}})
    err = error_of(env={"MCP_PROXY_CONFIG": path})
    assert "upstream.timeoutMS" in err.message
    assert "did you mean 'upstream.timeoutMs'" in err.message


def test_unknown_top_level_section_is_an_error(tmp_path: Path) -> None:
    err = error_of(env={"MCP_PROXY_CONFIG": write(tmp_path, {"upstrem": {"url": URL}})})
    assert "upstrem" in err.message


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{bad", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_unreadable_file_is_reported(tmp_path: Path, content: str, needle: str) -> None:
    err = error_of(env={"MCP_PROXY_CONFIG": write(tmp_path, content)})
    assert needle in err.message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    err = error_of(env={"MCP_PROXY_CONFIG": str(tmp_path / "absent.json")})
    assert "does not exist" in err.message


def test_config_flag_wins_over_the_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL}})
    s = load_settings(env={"MCP_PROXY_CONFIG": str(tmp_path / "absent.json")}, config_path=path)
    assert s.upstream.url == URL


def test_header_values_expand_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL, "headers": {"X-Api-Key": "k-${API_KEY}"}}})
    s = load_settings(env={"MCP_PROXY_CONFIG": path, "API_KEY": "123"})
    assert s.upstream.headers == {"X-Api-Key": "k-123"}


def test_file_value_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL, "timeoutMs": "soon"}})
    err = error_of(env={"MCP_PROXY_CONFIG": path})
    assert f"config file {path}" in err.message
    assert "upstream.timeoutMs" in err.message


def test_flag_value_error_names_the_flag() -> None:
    err = error_of(
        env={},
        flags={"upstream.url": (URL, "URL"), "oauth2.callbackPort": ("x", "--callback-port")},
    )
    assert "command line --callback-port" in err.message


def test_empty_environment_values_count_as_unset() -> None:
    assert load_settings(env={"UPSTREAM_URL": URL, "LOG_LEVEL": ""}).log.level == "info"


def test_json_numbers_and_booleans_are_accepted_from_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"upstream": {"url": URL, "timeoutMs": 5000.0, "openServerStream": False}}
    )
    s = load_settings(env={"MCP_PROXY_CONFIG": path})
    assert (s.upstream.timeout_ms, s.upstream.open_server_stream) == (5000, False)


def test_json_true_is_not_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, {"upstream": {"url": URL, "timeoutMs": True}})
    assert "upstream.timeoutMs" in error_of(env={"MCP_PROXY_CONFIG": path}).message


@given(st.text(max_size=12))
def test_booleans_accept_only_the_documented_words(text: str) -> None:
    words = {"true", "false", "1", "0", "yes", "no", "on", "off"}
    if text.strip().lower() in words:
        assert parse_bool(text) is (text.strip().lower() in {"true", "1", "yes", "on"})
    else:
        with pytest.raises(ValueError, match="not a boolean"):
            parse_bool(text)


@given(st.dictionaries(st.sampled_from([s.env for s in SETTINGS]), st.text(max_size=20)))
def test_no_environment_crashes_the_loader(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if "\x00" not in v}
    try:
        load_settings(env=env)
    except ConfigError as exc:
        assert exc.message  # noqa: PT017 - any input either loads or fails with a message
