"""Helpers shared by the commands: settings overrides and secret-free summaries."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any, TypeVar

from ..config import Settings
from ..frozen_model import SecretStr
from ..settings_table import SETTINGS


def with_oauth2(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with some ``oauth2`` fields replaced (snake_case names)."""
    return _replace(settings, oauth2=_replace(settings.oauth2, **changes))


_T = TypeVar("_T")


def _replace(model: _T, **changes: Any) -> _T:
    """A copy of a frozen settings record with ``changes`` (already valid values) applied."""
    copy = object.__new__(type(model))
    for name, value in {**vars(model), **changes}.items():
        object.__setattr__(copy, name, value)
    return copy


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
    flat: dict[str, Any] = {}
    for s in SETTINGS:
        node: Any = settings
        for part in s.path.split("."):
            node = getattr(node, _snake(part), None)
        flat[s.path] = node
    return flat


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


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
