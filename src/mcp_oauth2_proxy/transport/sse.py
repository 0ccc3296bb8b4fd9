"""An incremental Server-Sent Events decoder (WHATWG HTML §9.2.6), pure and chunk-agnostic.

Bytes go in as they arrive from the network, in any chunking; whole events
come out. The decoder remembers the last event id and the server's ``retry``
hint, which the transport needs to resume a cut stream with ``Last-Event-ID``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type, data, and the last event id seen so far."""

    event: str = "message"
    data: str = ""
    id: str = ""


class SSEDecoder:
    """Turn a byte stream into :class:`ServerSentEvent` values.

    ``feed`` may be called with arbitrary chunk boundaries (a CRLF split over two
    chunks is one line end). Per the specification an event still being built
    when the stream ends is discarded, never dispatched.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def reset_stream(self) -> None:
        """Forget partial input before reading a new connection; keep the id and retry."""
        self._buf.clear()
        self._scanned = 0
        self._started = False
        self._data, self._event = [], ""

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
            event = self._line(bytes(self._buf[start : match.start()]))
            if event is not None:
                events.append(event)
            start = match.end()
        del self._buf[:start]
        self._scanned = max(len(self._buf) - 1, 0)
        return events

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(
            event=event or "message", data="\n".join(data), id=self.last_event_id
        )


__all__ = ["SSEDecoder", "ServerSentEvent"]
