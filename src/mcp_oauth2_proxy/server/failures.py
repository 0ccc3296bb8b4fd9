"""Failure injection: make the next request(s) to an endpoint fail or stall.

Tests of the client use it to provoke exactly one ``invalid_grant``, a 500, a
slow answer, or an answer held until the test releases it, without touching
the server's logic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import anyio
from starlette.responses import Response

from .http import NO_STORE

# Endpoint names accepted by FailureInjector.fail_next.
METADATA = "metadata"
REGISTER = "register"
AUTHORIZE = "authorize"
TOKEN = "token"  # noqa: S105 - an endpoint name
DEVICE_AUTHORIZATION = "device_authorization"
REVOKE = "revoke"
MCP = "mcp"


@dataclass(frozen=True)
class Failure:
    """One injected behaviour.

    With ``error`` or ``body`` set the endpoint answers with that instead of
    running; otherwise it runs normally after ``delay`` seconds and after
    ``release`` (an ``anyio.Event``) is set.
    """

    status: int = 400
    error: str | None = None
    description: str | None = None
    body: str | None = None
    delay: float = 0.0
    release: anyio.Event | None = None

    @classmethod
    def oauth(cls, error: str, description: str | None = None, status: int = 400) -> Failure:
        """Answer with an OAuth error body (``invalid_grant``, ``invalid_client`` …)."""
        return cls(status=status, error=error, description=description)

    @classmethod
    def server_error(cls, status: int = 500, body: str = "internal error") -> Failure:
        """Answer with a plain-text server error."""
        return cls(status=status, body=body)

    @classmethod
    def slow(cls, seconds: float) -> Failure:
        """Answer normally, but only after ``seconds``."""
        return cls(delay=seconds)

    @classmethod
    def held(cls, release: anyio.Event) -> Failure:
        """Answer normally once ``release`` is set."""
        return cls(release=release)

    def response(self) -> Response | None:
        """Return the replacement response, or None to let the endpoint run."""
        if self.error is not None:
            body = {"error": self.error}
            if self.description:
                body["error_description"] = self.description
            return Response(
                json.dumps(body),
                status_code=self.status,
                media_type="application/json",
                headers=NO_STORE,
            )
        if self.body is not None:
            return Response(self.body, status_code=self.status, media_type="text/plain")
        return None


@dataclass
class _Planned:
    failure: Failure
    remaining: int
    grant_type: str | None


class FailureInjector:
    """A queue of planned failures per endpoint."""

    def __init__(self) -> None:
        self._plans: dict[str, list[_Planned]] = {}

    def fail_next(
        self, endpoint: str, failure: Failure, *, times: int = 1, grant_type: str | None = None
    ) -> None:
        """Apply ``failure`` to the next ``times`` requests to ``endpoint``.

        For the token endpoint ``grant_type`` narrows it to one grant.
        """
        self._plans.setdefault(endpoint, []).append(_Planned(failure, times, grant_type))

    def clear(self) -> None:
        """Drop every planned failure."""
        self._plans.clear()

    def pending(self, endpoint: str) -> int:
        """Return how many planned failures for ``endpoint`` have not fired yet."""
        return sum(p.remaining for p in self._plans.get(endpoint, []))

    async def intercept(self, endpoint: str, *, grant_type: str | None = None) -> Response | None:
        """Fire the next matching failure; return its response or None to continue."""
        planned = self._take(endpoint, grant_type)
        if planned is None:
            return None
        if planned.delay:
            await anyio.sleep(planned.delay)
        if planned.release is not None:
            await planned.release.wait()
        return planned.response()

    def _take(self, endpoint: str, grant_type: str | None) -> Failure | None:
        for plan in self._plans.get(endpoint, []):
            if plan.grant_type in (None, grant_type) and plan.remaining > 0:
                plan.remaining -= 1
                return plan.failure
        return None


__all__ = [
    "AUTHORIZE",
    "DEVICE_AUTHORIZATION",
    "MCP",
    "METADATA",
    "REGISTER",
    "REVOKE",
    "TOKEN",
    "Failure",
    "FailureInjector",
]
