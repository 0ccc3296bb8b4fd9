"""Transport selection: Streamable HTTP first, legacy HTTP+SSE when the server asks for it.

``auto`` follows the backward-compatibility rule of the Streamable HTTP
specification (2025-03-26 and later, "Backwards Compatibility"): POST the
client's ``initialize``; when the server answers 400, 404 or 405 with a body
that is not a recognized modern JSON-RPC error, it is an HTTP+SSE server, so
open its event stream and replay the ``initialize`` there. The choice is made
once, logged once, and kept for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio.abc
import httpx

from .. import jsonrpc
from ..errors import ProxyError, UpstreamError, UpstreamStatusError
from ..log import get_logger
from . import Deliver, Exchange, Transport
from .http import DEFAULT_MAX_MESSAGE_BYTES
from .streamable_http import StreamableHttpTransport

if TYPE_CHECKING:
    from .legacy_sse import LegacySseTransport

LEGACY_REJECTIONS = frozenset({400, 404, 405})
"""Statuses with which a legacy HTTP+SSE server rejects a Streamable HTTP POST."""
_BODY_IN_REASON = 200
_log = get_logger(__name__)


def is_legacy_rejection(exc: UpstreamStatusError) -> bool:
    """Tell whether a failed ``initialize`` POST points to a legacy HTTP+SSE server."""
    return exc.status in LEGACY_REJECTIONS and not jsonrpc.is_modern_error_body(exc.body)


class AutoTransport:
    """Streamable HTTP, falling back once to the transport ``fallback`` builds."""

    def __init__(self, primary: Transport, fallback: Callable[[], Transport]) -> None:
        self._primary = primary
        self._fallback = fallback
        self._chosen: Transport | None = None

    @property
    def active(self) -> Transport:
        """The transport in use (Streamable HTTP until a choice was made)."""
        return self._chosen or self._primary

    @property
    def session_id(self) -> str | None:
        """The session id of the active transport."""
        return self.active.session_id

    async def send(self, exchange: Exchange, deliver: Deliver) -> None:
        """Send on the active transport; an undecided ``initialize`` makes the choice."""
        if self._chosen is not None or exchange.message.method != jsonrpc.INITIALIZE:
            await self.active.send(exchange, deliver)
            return
        try:
            await self._primary.send(exchange, deliver)
        except UpstreamStatusError as exc:
            if not is_legacy_rejection(exc):
                raise
            await self._fall_back(exchange, deliver, exc)
            return
        self._choose(self._primary, "streamable-http", "the server accepted initialize")

    async def _fall_back(
        self, exchange: Exchange, deliver: Deliver, rejection: UpstreamStatusError
    ) -> None:
        legacy = self._fallback()
        try:
            await legacy.send(exchange, deliver)
        except ProxyError as exc:
            await legacy.close()
            body = rejection.body[:_BODY_IN_REASON]
            _log.warning("upstream.sse_fallback_failed", status=rejection.status, error=str(exc))
            raise UpstreamError(
                f"upstream answered initialize with HTTP {rejection.status} ({body!r}), "
                f"and the legacy HTTP+SSE fallback failed: {exc}",
                url=rejection.url,
            ) from exc
        self._choose(legacy, "sse", f"initialize was answered with HTTP {rejection.status}")

    def _choose(self, transport: Transport, name: str, reason: str) -> None:
        self._chosen = transport
        _log.info("upstream.transport_selected", transport=name, reason=reason)

    async def listen(self, deliver: Deliver) -> None:
        """Listen on the active transport."""
        await self.active.listen(deliver)

    def reset_session(self) -> None:
        """Reset the active transport's session."""
        self.active.reset_session()

    async def close(self) -> None:
        """Close the active transport."""
        await self.active.close()


def build_transport(
    kind: str,
    client: httpx.AsyncClient,
    url: str,
    *,
    task_group: anyio.abc.TaskGroup,
    server_sink: Deliver,
    headers: dict[str, str] | None = None,
    timeout_s: float = 300.0,
    protocol_version: str | None = None,
    max_requests: int | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Transport:
    """Build the transport ``upstream.transport`` names: ``auto``, ``streamable-http`` or ``sse``.

    ``task_group`` runs the HTTP+SSE event stream; ``server_sink`` receives
    the messages the server sends on it by itself; ``max_message_bytes`` caps one upstream
    message (``upstream.maxMessageBytes``). ``max_requests`` bounds the
    Streamable HTTP requests in flight at once.
    """

    def legacy() -> LegacySseTransport:
        # Imported on first use: most servers speak Streamable HTTP.
        from .legacy_sse import LegacySseTransport

        return LegacySseTransport(
            client,
            url,
            task_group=task_group,
            server_sink=server_sink,
            headers=headers,
            timeout_s=timeout_s,
            max_message_bytes=max_message_bytes,
        )

    if kind == "sse":
        _log.info("upstream.transport_selected", transport="sse", reason="configured")
        return legacy()
    streamable = StreamableHttpTransport(
        client,
        url,
        headers=headers,
        timeout_s=timeout_s,
        protocol_version=protocol_version,
        max_requests=max_requests,
        max_message_bytes=max_message_bytes,
    )
    if kind == "streamable-http":
        return streamable
    return AutoTransport(streamable, legacy)


__all__ = ["LEGACY_REJECTIONS", "AutoTransport", "build_transport", "is_legacy_rejection"]
