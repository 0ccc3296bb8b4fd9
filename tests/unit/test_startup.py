"""A launch loads only what the first message needs (the cold-start budget)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from mcp_oauth2_proxy import app
from mcp_oauth2_proxy.config import load_settings
from mcp_oauth2_proxy.log import configure_logging, get_logger

settings = load_settings(env={"UPSTREAM_URL": "http://127.0.0.1:9/mcp", "LOG_LEVEL": "warn"})
configure_logging(settings.log.level, "json")
get_logger("startup").info("bridge.started")
heavy = ("pydantic", "structlog", "click", "pygments", "certifi", "truststore")
print(" ".join(name for name in heavy if name in sys.modules))
"""


def test_a_bridge_launch_loads_no_validation_cli_or_tls_libraries_it_does_not_need() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []
