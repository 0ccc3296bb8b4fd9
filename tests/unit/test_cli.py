"""The command line: help, version, flags and the exit-code contract."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import mcp_oauth2_proxy
from mcp_oauth2_proxy.cli import build_parser, flags_from_args, main, parse_header_flags
from mcp_oauth2_proxy.config import load_settings
from mcp_oauth2_proxy.errors import ConfigError

URL = "https://mcp.example.com/mcp"


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcp-oauth2-proxy {mcp_oauth2_proxy.__version__}"


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "MCP_PROXY_CONFIG" in out


def test_flags_become_settings_with_their_flag_as_source() -> None:
    ns = build_parser().parse_args(
        [URL, "--timeout-ms", "5000", "--header", "X-A: 1", "--header", "X-B:two", "--no-browser"]
    )
    flags = flags_from_args(ns)
    s = load_settings(env={}, flags=flags)
    assert s.upstream.url == URL
    assert s.upstream.timeout_ms == 5000
    assert s.upstream.headers == {"X-A": "1", "X-B": "two"}
    assert s.oauth2.open_browser is False
    assert flags["upstream.timeoutMs"] == ("5000", "--timeout-ms")


def test_positional_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_URL", "https://other.example.com/mcp")
    ns = build_parser().parse_args([URL])
    assert load_settings(flags=flags_from_args(ns)).upstream.url == URL


def test_malformed_header_flag_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="Name: value"):
        parse_header_flags(["no-colon-here"])


def test_unknown_option_is_one_line_and_exit_2() -> None:
    err = io.StringIO()
    assert main(["--bogus"], stderr=err) == 2
    assert err.getvalue().count("\n") == 1
    assert "--bogus" in err.getvalue()


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "", "SYSTEMROOT": "", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(  # noqa: S603 - the program under test, no shell
        [sys.executable, "-m", "mcp_oauth2_proxy", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "upstream.url is required"),
        ({"UPSTREAM_URL": "http://example.com/mcp"}, "UPSTREAM_URL"),
        ({"UPSTREAM_URL": URL, "OAUTH2_CALLBACK_PORT": "abc"}, "OAUTH2_CALLBACK_PORT"),
        (
            {"UPSTREAM_URL": URL, "UPSTREAM_OPEN_SERVER_STREAM": "maybe"},
            "UPSTREAM_OPEN_SERVER_STREAM",
        ),
        ({"UPSTREAM_URL": URL, "OAUTH2_EXTRA_PARAMS": "{bad"}, "OAUTH2_EXTRA_PARAMS"),
        ({"MCP_PROXY_CONFIG": "@unknown_key"}, "upstream.timeoutMS"),
        ({"MCP_PROXY_CONFIG": "@not_json"}, "not valid JSON"),
        ({"MCP_PROXY_CONFIG": "@missing"}, "does not exist"),
    ],
)
def test_invalid_configuration_exits_2_with_one_line_and_empty_stdout(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    files = {
        "@unknown_key": '{"upstream": {"url": "https://x.example/mcp", "timeoutMS": 1}}',
        "@not_json": "{bad",
    }
    if env.get("MCP_PROXY_CONFIG", "").startswith("@"):
        name = env["MCP_PROXY_CONFIG"]
        path = tmp_path / f"{name[1:]}.json"
        if name in files:
            path.write_text(files[name], encoding="utf-8")
        env = {"MCP_PROXY_CONFIG": str(path)}
    proc = run_cli(env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]


def test_module_entry_point_answers_help() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: mcp-oauth2-proxy")
