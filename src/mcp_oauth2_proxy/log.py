"""structlog on stderr, with a redaction processor that runs on every event.

Events have dotted names (``upstream.session_expired``) and key/value fields.
The redaction processor masks, at any depth: values under sensitive keys,
sensitive query parameters inside URLs, ``Bearer``/``Basic`` credentials and
JSON token fields inside free text (exception messages, error bodies), and any
value registered with :func:`register_secret` (configured header values,
tokens obtained at run time) wherever it appears (SPEC §4).

structlog itself (~50 ms to import) is loaded only when the first event
passes the level filter: a bridge started at ``warn`` that never warns never
imports it. :func:`get_logger` returns a small proxy that filters by level
first and hands events that pass to structlog.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from types import ModuleType

MASK = "[REDACTED]"
# trace shares structlog's debug filter; it additionally turns on wire-level
# detail that modules guard with is_enabled("trace").
# The numbers are the stdlib logging levels (not imported: it is only needed once
# structlog is).
LEVELS: dict[str, int] = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "warn": 30,
    "error": 40,
    "fatal": 50,
    "silent": 60,
}
_METHOD_LEVELS: dict[str, int] = {
    "debug": 10,
    "info": 20,
    "msg": 20,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "exception": 40,
    "critical": 50,
    "fatal": 50,
}
_MIN_SECRET_LEN = 4
_MAX_DEPTH = 32

SENSITIVE_KEYS = frozenset(
    {
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "token",
        "bearer",
        "code",
        "authorizationcode",
        "codeverifier",
        "clientsecret",
        "clientassertion",
        "assertion",
        "password",
        "passwd",
        "secret",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "devicecode",
        "usercode",
        "privatekey",
        "apikey",
        "xapikey",
    }
)
_KEY_ALT = (
    "access_token|refresh_token|id_token|code|code_verifier|client_secret|client_assertion|"
    "assertion|password|token|device_code|subject_token|api_key|apikey"
)
_QUERY_RE = re.compile(rf"(?i)([?&#;](?:{_KEY_ALT})=)[^&#\s\"'<>]*")
_JSON_FIELD_RE = re.compile(rf"(?i)(\"(?:{_KEY_ALT})\"\s*:\s*\")(?:[^\"\\]|\\.)*")
_FORM_RE = re.compile(rf"(?i)(^|[\s&,{{])((?:{_KEY_ALT})=)[^&\s\"',}}]*")
_SCHEME_RE = re.compile(r"(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9\-._~+/=]+")

_threshold = LEVELS["info"]
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _norm_key(key: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in any later log event.

    Very short values are ignored: masking every ``"a"`` would destroy logs
    without protecting anything.
    """
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def forget_secrets() -> None:
    """Drop every registered secret (tests use this to isolate cases)."""
    with _secrets_lock:
        _secrets.clear()


def redact_text(text: str) -> str:
    """Mask credentials inside free text: URLs, JSON bodies, headers, registered values."""
    if _secrets:
        with _secrets_lock:
            known = sorted(_secrets, key=len, reverse=True)
        for value in known:
            if value in text:
                text = text.replace(value, MASK)
    text = _SCHEME_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _QUERY_RE.sub(lambda m: m.group(1) + MASK, text)
    text = _JSON_FIELD_RE.sub(lambda m: m.group(1) + MASK, text)
    return _FORM_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


def redact_value(value: object, depth: int = 0) -> object:  # noqa: PLR0911 - one branch per type
    """Return ``value`` with every secret masked, recursing through containers."""
    if depth > _MAX_DEPTH:
        return "[TOO DEEP]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, MutableMapping | dict):
        return {k: _redact_item(k, v, depth) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if hasattr(value, "items") and callable(value.items):  # header multidicts
        return {k: _redact_item(k, v, depth) for k, v in value.items()}
    return redact_text(str(value))


def _redact_item(key: object, value: object, depth: int) -> object:
    if _norm_key(key) in SENSITIVE_KEYS and value not in (None, "", [], {}):
        return MASK
    return redact_value(value, depth + 1)


def redact_processor(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: mask secrets in every field of the event."""
    for key in list(event_dict):
        event_dict[key] = _redact_item(key, event_dict[key], 0)
    return event_dict


def _level_name(
    _logger: object, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict["level"] = {"warning": "warn", "critical": "fatal", "exception": "error"}.get(
        method, method
    )
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: str | None = None,
    stream: TextIO | None = None,
    extra_secrets: Iterable[str] = (),
) -> None:
    """Send structlog events to ``stream`` (stderr) at ``level`` in ``fmt``.

    ``fmt`` None picks ``console`` when the stream is a terminal, else ``json``.
    structlog is configured now if it is already loaded, else when the first
    event passes the level filter.
    """
    global _threshold, _pending  # noqa: PLW0603 - one process-wide logging setup, like structlog's
    _threshold = LEVELS[level]
    stream = stream or sys.stderr
    for value in extra_secrets:
        register_secret(value)
    if fmt is None:
        fmt = "console" if _isatty(stream) else "json"
    _pending = (level, fmt, stream)
    if "structlog" in sys.modules:
        _structlog()


_pending: tuple[str, str, TextIO] | None = None


def _structlog() -> ModuleType:
    """Import structlog and apply the configuration :func:`configure_logging` recorded."""
    global _pending  # noqa: PLW0603 - see configure_logging
    import structlog

    if _pending is not None:
        level, fmt, stream = _pending
        _pending = None
        _apply(structlog, level, fmt, stream)
    return structlog


def _apply(structlog: ModuleType, level: str, fmt: str, stream: TextIO) -> None:
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(stream) and sys.platform != "win32")
    structlog.configure(
        processors=[
            *([_drop_all] if level == "silent" else []),
            _level_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            min(max(LEVELS[level], LEVELS["debug"]), LEVELS["fatal"])
        ),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def _drop_all(_logger: object, _method: str, _event: MutableMapping[str, Any]) -> NoReturn:
    import structlog

    raise structlog.DropEvent


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def is_enabled(level: str) -> bool:
    """Return True when events at ``level`` would be written (guards costly fields)."""
    return LEVELS[level] >= _threshold and _threshold < LEVELS["silent"]


def get_logger(name: str | None = None) -> Any:
    """Return a logger with structlog's methods; ``name`` is a module name for context only."""
    return _Logger(name)


class _Logger:
    """A structlog logger that is created on the first event passing the level filter.

    Until structlog is loaded, events below the configured level are dropped
    here without importing it; afterwards every call goes straight to
    structlog, which filters by itself.
    """

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._logger: Any = None

    def _real(self) -> Any:
        if self._logger is None:
            args = (self._name,) if self._name else ()
            self._logger = _structlog().get_logger(*args)
        elif _pending is not None:
            _structlog()
        return self._logger

    def __getattr__(self, method: str) -> Any:
        level = _METHOD_LEVELS.get(method)
        if level is not None and "structlog" not in sys.modules and level < _threshold:
            return _ignore
        return getattr(self._real(), method)


def _ignore(*_args: object, **_kwargs: object) -> None:
    """An event below the configured level, dropped before structlog is loaded."""


__all__ = [
    "LEVELS",
    "MASK",
    "configure_logging",
    "forget_secrets",
    "get_logger",
    "is_enabled",
    "redact_processor",
    "redact_text",
    "redact_value",
    "register_secret",
]
