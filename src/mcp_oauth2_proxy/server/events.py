"""A log of every HTTP request the demo servers saw, with secrets redacted.

Tests assert on it and the demo prints it as a transcript of each hop. The
recording is an ASGI middleware; handlers add protocol detail (grant type,
JSON-RPC method) through :func:`annotate`, and every value passes the same
redaction the program's logs use before it is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..log import redact_value
from .clock import Clock, SystemClock

_DETAIL_KEY = "mcp_oauth2_proxy.event_detail"


@dataclass(frozen=True)
class ServerEvent:
    """One request seen by a demo server and the status it was answered with."""

    time: float
    server: str
    method: str
    path: str
    status: int
    query: Mapping[str, object] = field(default_factory=dict)
    detail: Mapping[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        """Return a one-line human summary (already redacted)."""
        extras = " ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.server}: {self.method} {self.path} -> {self.status} {extras}".rstrip()


Listener = Callable[[ServerEvent], None]


class EventLog:
    """An append-only list of :class:`ServerEvent` with optional live listeners."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._events: list[ServerEvent] = []
        self._listeners: list[Listener] = []

    @property
    def events(self) -> list[ServerEvent]:
        """A copy of the events recorded so far, oldest first."""
        return list(self._events)

    def clear(self) -> None:
        """Forget every recorded event."""
        self._events.clear()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every new event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def record(
        self,
        *,
        server: str,
        method: str,
        path: str,
        status: int,
        query: Mapping[str, object] | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> ServerEvent:
        """Redact and append one event, then notify listeners."""
        event = ServerEvent(
            time=self._clock.now(),
            server=server,
            method=method,
            path=path,
            status=status,
            query=_redacted(query or {}),
            detail=_redacted(detail or {}),
        )
        self._events.append(event)
        for listener in list(self._listeners):
            listener(event)
        return event

    def matching(self, *, server: str | None = None, path: str | None = None) -> list[ServerEvent]:
        """Return the events for ``server`` and/or ``path``."""
        return [
            e
            for e in self._events
            if (server is None or e.server == server) and (path is None or e.path == path)
        ]


def _redacted(values: Mapping[str, object]) -> dict[str, object]:
    cleaned = redact_value(dict(values))
    return cleaned if isinstance(cleaned, dict) else {}


def annotate(request: Request | Scope, **detail: object) -> None:
    """Attach protocol detail to the event that will be recorded for ``request`` (or a scope)."""
    scope = request.scope if isinstance(request, Request) else request
    current: dict[str, object] = scope.setdefault(_DETAIL_KEY, {})
    current.update({k: v for k, v in detail.items() if v is not None})


class EventRecorder:
    """ASGI middleware that records each HTTP request into an :class:`EventLog`."""

    def __init__(self, app: ASGIApp, *, log: EventLog, server: str) -> None:
        self.app = app
        self.log = log
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through and record its final status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            self.log.record(
                server=self.server,
                method=str(scope["method"]),
                path=str(scope["path"]),
                status=status,
                query=_query(scope),
                detail=_detail(scope),
            )


def _query(scope: Scope) -> dict[str, object]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=True))


def _detail(scope: Scope) -> dict[str, Any]:
    detail = scope.get(_DETAIL_KEY)
    return dict(detail) if isinstance(detail, dict) else {}


__all__ = ["EventLog", "EventRecorder", "Listener", "ServerEvent", "annotate"]
