"""Import hygiene for the dependencies' optional imports, applied once when the package loads.

Both entries make an import that would fail anyway fail at once, without its cost:

- ``import httpx`` also imports ``httpx._main``, the ``httpx`` command-line client, which pulls
  in click (present because uvicorn depends on it) and pygments: ~40-50 ms of every launch for
  code this program never runs. httpx imports it inside ``try: ... except ImportError`` and
  installs a stub ``httpx.main`` instead. Nothing in this process uses ``httpx.main`` (the
  httpx CLI is a separate console script, hence a separate process).
- httpcore runs ``import sniffio`` on every lock it creates, ~14 times per request, inside
  ``try: ... except ImportError`` (falling back to asyncio). Recent anyio no longer depends on
  sniffio, and a failed import is not cached: each one searched every ``sys.path`` entry again,
  ~2 ms of CPU per upstream request. When sniffio is not installed, the ``None`` entry gives
  httpcore the same ImportError, and the same asyncio answer, without the search.

A ``None`` value in ``sys.modules`` is the import system's documented way to make an import
raise ImportError. Entries are only added for modules that are not loaded (nor, for sniffio,
installed), so an environment that has them loaded or installed is left as it is.
"""

from __future__ import annotations

import importlib
import sys


def trim_imports() -> None:
    """Register the import shortcuts described in the module docstring (idempotent)."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        # A small module: when it is installed, keeping it loaded is harmless.
        importlib.import_module("sniffio")
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


__all__ = ["trim_imports"]
