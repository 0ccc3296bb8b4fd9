"""A configuration file that is not a file, or not sane JSON, ends in one clear line, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcp_oauth2_proxy.config import load_settings
from mcp_oauth2_proxy.errors import ConfigError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX special files")


def refused(path: str) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"MCP_PROXY_CONFIG": path, "UPSTREAM_URL": "https://mcp.test/mcp"})
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "\n" not in message
    return message


def cli_refuses(path: str) -> str:
    """Run the CLI with ``path`` as its config file, memory-limited, and return its stderr."""

    def limit_memory() -> None:  # an endless read must fail here, not exhaust the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {**os.environ, "MCP_PROXY_CONFIG": path, "UPSTREAM_URL": "https://mcp.test/mcp"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_oauth2_proxy"],
            stdin=subprocess.DEVNULL,
            env=env,
            capture_output=True,
            timeout=20,
            preexec_fn=limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the CLI hung on the config file")
    assert proc.returncode == 2, proc.stderr[-500:]
    return proc.stderr.decode("utf-8", "replace")


@posix_only
def test_an_endless_device_as_the_config_file_is_refused_without_reading_it() -> None:
    assert "MCP_PROXY_CONFIG" in cli_refuses("/dev/zero")


@posix_only
def test_a_fifo_as_the_config_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    assert "MCP_PROXY_CONFIG" in cli_refuses(str(fifo))


def test_a_huge_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(
        b'{"upstream": {"url": "https://mcp.test/mcp"}, "x": "' + b"a" * (8 << 20) + b'"}'
    )
    assert "MCP_PROXY_CONFIG" in refused(str(path))


@pytest.mark.parametrize("nesting", [b"[" * 100_000, b'{"a":' * 50_000])
def test_absurdly_nested_config_json_is_a_config_error(tmp_path: Path, nesting: bytes) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(nesting)
    assert "MCP_PROXY_CONFIG" in refused(str(path))


def test_a_directory_as_the_config_file_is_a_config_error(tmp_path: Path) -> None:
    assert "MCP_PROXY_CONFIG" in refused(str(tmp_path))


@pytest.mark.parametrize(
    "headers",
    ['{"X-A": "a\\r\\nInjected: 1"}', '{"X-A\\nB": "v"}', '{"X A": "v"}', '{"X-A": "\\u0000"}'],
)
def test_header_values_that_would_split_a_request_are_refused(headers: str) -> None:
    with pytest.raises(ConfigError, match="UPSTREAM_HEADERS"):
        load_settings(env={"UPSTREAM_URL": "https://mcp.test/mcp", "UPSTREAM_HEADERS": headers})
