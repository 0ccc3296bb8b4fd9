"""Helpers shared by the commands: settings overrides and secret-free summaries."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ..config import Settings
from ..frozen_model import SecretStr
from ..settings_table import SETTINGS


def with_oauth2(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with some ``oauth2`` fields replaced (snake_case names)."""
    oauth2 = settings.oauth2.model_copy(update=changes)
    return settings.model_copy(update={"oauth2": oauth2})


def configured_summary(settings: Settings) -> dict[str, Any]:
    """Every setting that differs from its default; secrets and header values never shown."""
    defaults = _flat(Settings.model_validate({"upstream": {"url": settings.upstream.url}}))
    current = _flat(settings)
    secret = {s.path for s in SETTINGS if s.secret}
    summary: dict[str, Any] = {}
    for s in SETTINGS:
        value = current.get(s.path)
        if value is None or (s.path != "upstream.url" and value == defaults.get(s.path)):
            continue
        if s.path in secret or isinstance(value, SecretStr):
            value = "(set)"
        elif s.path == "upstream.headers":
            value = sorted(value)  # names only: the values may be credentials
        summary[s.path] = value
    return summary


def _flat(settings: Settings) -> dict[str, Any]:
    tree = settings.model_dump(by_alias=True)
    flat: dict[str, Any] = {}
    for s in SETTINGS:
        node: Any = tree
        for part in s.path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        flat[s.path] = node
    return flat


def wall_time(expires_at: float | None, now_monotonic: float) -> str | None:
    """An absolute expiry on the monotonic clock as an ISO 8601 UTC time."""
    if expires_at is None:
        return None
    return iso(time.time() + (expires_at - now_monotonic))


def iso(epoch: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC, to the second."""
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


__all__ = ["configured_summary", "iso", "wall_time", "with_oauth2"]
