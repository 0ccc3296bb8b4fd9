"""Scope strings as ordered sets (RFC 6749 §3.3): pure helpers for step-up authorization."""

from __future__ import annotations


def union_scopes(*scopes: str | None) -> str | None:
    """Space-separated union of ``scopes`` in first-seen order; None when empty."""
    seen: dict[str, None] = {}
    for scope in scopes:
        for name in (scope or "").split():
            seen.setdefault(name, None)
    return " ".join(seen) or None


def scope_covers(granted: str | None, required: str | None) -> bool:
    """Tell whether every scope in ``required`` is in ``granted``."""
    return set((required or "").split()) <= set((granted or "").split())


__all__ = ["scope_covers", "union_scopes"]
