"""Who says yes: the consent decision behind the authorization and device flows.

The server asks an :class:`ApprovalPolicy` for every authorization request.
``AutoApprove`` serves headless demos and tests, ``AskUser`` shows the consent
page to a person, ``AutoDeny`` exercises the refusal paths. The policy on a
running server can be swapped at any time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from .models import RegisteredClient


class Decision(Enum):
    """What the policy decided about one request."""

    APPROVE = "approve"
    DENY = "deny"
    ASK = "ask"


@dataclass(frozen=True)
class ConsentRequest:
    """What the user is being asked to approve."""

    kind: Literal["authorization_code", "device_code"]
    client: RegisteredClient
    scopes: frozenset[str]
    resources: tuple[str, ...]
    redirect_uri: str | None = None


class ApprovalPolicy(Protocol):
    """Decides an authorization request without (or before) asking a person."""

    async def decide(self, request: ConsentRequest) -> Decision:
        """Return APPROVE, DENY, or ASK to show the consent page."""
        ...


class AutoApprove:
    """Approve everything at once (headless demo, tests); remembers what it approved."""

    def __init__(self) -> None:
        self.approved: list[ConsentRequest] = []

    async def decide(self, request: ConsentRequest) -> Decision:
        """Approve and record the request."""
        self.approved.append(request)
        return Decision.APPROVE


class AutoDeny:
    """Deny everything (tests of ``access_denied``)."""

    async def decide(self, request: ConsentRequest) -> Decision:  # noqa: ARG002 - Protocol
        """Deny."""
        return Decision.DENY


class AskUser:
    """Show the consent page (or wait for the device verification page)."""

    async def decide(self, request: ConsentRequest) -> Decision:  # noqa: ARG002 - Protocol
        """Ask."""
        return Decision.ASK


class CallbackApproval:
    """Adapt an async function to an :class:`ApprovalPolicy`."""

    def __init__(self, decide: Callable[[ConsentRequest], Awaitable[Decision]]) -> None:
        self._decide = decide

    async def decide(self, request: ConsentRequest) -> Decision:
        """Delegate to the wrapped function."""
        return await self._decide(request)


__all__ = [
    "ApprovalPolicy",
    "AskUser",
    "AutoApprove",
    "AutoDeny",
    "CallbackApproval",
    "ConsentRequest",
    "Decision",
]
