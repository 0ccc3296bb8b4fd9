"""An incremental Server-Sent Events decoder (WHATWG HTML §9.2.6), pure and chunk-agnostic.

Bytes go in as they arrive from the network, in any chunking; whole events
come out. The decoder remembers the last event id and the server's ``retry``
hint, which the transport needs to resume a cut stream with ``Last-Event-ID``.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
_COLON = ord(":")
_SPACE = ord(" ")


class ServerSentEvent:
    """One dispatched event: its type, data, and the last event id seen so far.

    The data is kept as the bytes received (``raw``); ``data`` decodes it. A
    large message thus reaches stdout without a decoded copy.
    """

    __slots__ = ("event", "id", "raw")

    def __init__(self, event: str = "message", data: str | bytes = "", id: str = "") -> None:  # noqa: A002 - the SSE field name
        self.event = event
        self.raw = data.encode("utf-8") if isinstance(data, str) else data
        self.id = id

    @property
    def data(self) -> str:
        """The data, decoded as UTF-8 (invalid bytes replaced)."""
        return self.raw.decode("utf-8", "replace")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.event, self.raw, self.id) == (other.event, other.raw, other.id)

    def __hash__(self) -> int:
        return hash((self.event, self.raw, self.id))

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.raw[:80]!r}, id={self.id!r})"


MAX_RETRY_MS = 300_000
"""The longest reconnection delay a server's ``retry`` field can ask for (five minutes)."""


class SSEDecoder:
    """Turn a byte stream into :class:`ServerSentEvent` values.

    ``feed`` may be called with arbitrary chunk boundaries (a CRLF split over two
    chunks is one line end). Per the specification an event still being built
    when the stream ends is discarded, never dispatched.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._max = max_event_bytes
        self._held = 0  # data bytes of the event being built
        self._buf = bytearray()
        self._scanned = 0
        self._started = False
        self._data: list[bytes] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def reset_stream(self) -> None:
        """Forget partial input before reading a new connection; keep the id and retry."""
        self._buf.clear()
        self._scanned = 0
        self._started = False
        self._data, self._event, self._held = [], "", 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume ``chunk``; return the events it completed, in order."""
        self._buf += chunk
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(bytes(self._buf)):
                return []
            if self._buf.startswith(_BOM):
                del self._buf[: len(_BOM)]
            self._started = True
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(self._buf, self._scanned):
            # A CR at the very end may be the first half of a CRLF still in flight.
            if match.group() == b"\r" and match.end() == len(self._buf):
                break
            event = self._line(start, match.start())
            if event is not None:
                events.append(event)
            start = match.end()
        del self._buf[:start]
        self._scanned = max(len(self._buf) - 1, 0)
        self._check_size()
        return events

    def _check_size(self) -> None:
        """Refuse an event that grows beyond ``max_event_bytes`` (complete lines or not)."""
        if self._max is not None and self._held + len(self._buf) > self._max:
            size = self._held + len(self._buf)
            self._buf.clear()
            self._scanned = 0
            self._data, self._event, self._held = [], "", 0
            raise EventTooLargeError(f"an event grew beyond {self._max} bytes (at least {size})")

    def _line(self, start: int, end: int) -> ServerSentEvent | None:
        """Interpret ``_buf[start:end]``, copying only the value of a ``data`` line, once."""
        buf = self._buf
        if start == end:
            return self._dispatch()
        if buf[start] == _COLON:
            return None
        colon = buf.find(b":", start, end)
        name_end = end if colon == -1 else colon
        value_start = end if colon == -1 else colon + 1
        if value_start < end and buf[value_start] == _SPACE:
            value_start += 1
        name = bytes(buf[start:name_end])
        if name == b"data":
            with memoryview(buf) as view:
                self._data.append(bytes(view[value_start:end]))
            self._held += end - value_start + 1
            return None
        value = buf[value_start:end].decode("utf-8", "replace")
        if name == b"event":
            self._event = value
        elif name == b"id" and "\0" not in value:
            self.last_event_id = value
        elif name == b"retry" and value.isascii() and value.isdigit():
            # Honoured, within reason: a server must not silence its stream for a year.
            self.retry_ms = min(int(value), MAX_RETRY_MS)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._held = [], "", 0
        if not data:
            return None
        joined = data[0] if len(data) == 1 else b"\n".join(data)
        return ServerSentEvent(event or "message", joined, self.last_event_id)


class EventTooLargeError(ValueError):
    """An event exceeded the decoder's ``max_event_bytes``; the stream cannot go on."""


__all__ = ["MAX_RETRY_MS", "EventTooLargeError", "SSEDecoder", "ServerSentEvent"]
