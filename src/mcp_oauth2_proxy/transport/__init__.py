"""Upstream transports: how one client message travels to the remote MCP server.

A transport takes an :class:`Exchange` (the message, its raw bytes and the
request ids still awaiting an answer) and hands every message the upstream
sends back to a :data:`Deliver` callback as one JSON line. It never answers on
the client's behalf: when it cannot complete an exchange it raises a
:class:`~mcp_oauth2_proxy.errors.ProxyError` and the bridge answers the ids
left in ``pending``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..jsonrpc import JsonId, Message

Deliver = Callable[[bytes], Awaitable[None]]
"""Receives each upstream message as one line of JSON (no newline)."""


@dataclass
class Exchange:
    """One client message on its way upstream.

    ``pending`` starts as the request ids the message carries; the transport
    removes each id as its response is delivered.
    """

    message: Message
    body: bytes
    pending: set[JsonId] = field(default_factory=set)

    @classmethod
    def of(cls, message: Message, body: bytes) -> Exchange:
        """Build an exchange expecting answers to every request in ``message``."""
        return cls(message, body, set(message.request_ids))


class Transport(Protocol):
    """What the bridge needs from an upstream transport."""

    @property
    def session_id(self) -> str | None:
        """The upstream session id, once the server assigned one."""

    async def send(self, exchange: Exchange, deliver: Deliver) -> None:
        """Send one message and deliver everything the upstream answers on that exchange."""

    async def listen(self, deliver: Deliver) -> None:
        """Receive server-initiated messages until cancelled (returns if unsupported)."""

    def reset_session(self) -> None:
        """Forget the session id and negotiated version before re-initializing."""

    async def close(self) -> None:
        """End the upstream session (best effort)."""


__all__ = ["Deliver", "Exchange", "Transport"]
