"""Wiring of one bridge run: logging, HTTP client, auth, bridge (filled in by the bridge)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ProxyError

if TYPE_CHECKING:
    from .config import Settings


def run(settings: Settings) -> int:
    """Run the stdio bridge until stdin closes; return the exit code."""
    raise ProxyError(f"bridging to {settings.upstream.url} is not implemented yet")
