"""An incremental Server-Sent Events decoder (WHATWG HTML §9.2.6), pure and chunk-agnostic.

Bytes go in as they arrive from the network, in any chunking; whole events
come out. The decoder remembers the last event id and the server's ``retry``
hint, which the transport needs to resume a cut stream with ``Last-Event-ID``.
"""

from __future__ import annotations

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

    Cost is linear in the input whatever the chunking: line ends are found with
    ``bytes.find`` (memchr), never a regex over the data, and a line that spans
    many chunks is kept as the list of its pieces and joined once, without its
    ``data:`` prefix, when its end arrives. A 64 MB event arriving in 64 KiB
    reads is copied once.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._max = max_event_bytes
        self._held = 0  # data bytes of the event being built
        self._parts: list[bytes] = []  # pieces of the line still waiting for its end
        self._pending = 0  # their total size
        self._skip_lf = False  # the last chunk ended in CR: an LF first in the next one is its pair
        self._bom_head = b""
        self._started = False
        self._data: list[bytes] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def reset_stream(self) -> None:
        """Forget partial input before reading a new connection; keep the id and retry."""
        self._parts, self._pending, self._skip_lf = [], 0, False
        self._bom_head = b""
        self._started = False
        self._data, self._event, self._held = [], "", 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume ``chunk``; return the events it completed, in order."""
        if not self._started:
            head = self._bom_head + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._bom_head = head
                return []
            self._started, self._bom_head = True, b""
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
        events: list[ServerSentEvent] = []
        size = len(chunk)
        pos = 0
        if self._skip_lf and size:
            self._skip_lf = False
            if chunk[0] == _LF:
                pos = 1
        next_lf = chunk.find(b"\n", pos)  # kept across lines: each byte is searched once
        while pos < size:
            if next_lf != -1 and next_lf < pos:
                next_lf = chunk.find(b"\n", pos)
            cr = chunk.find(b"\r", pos, size if next_lf == -1 else next_lf)
            end = next_lf if cr == -1 else cr
            if end == -1:
                self._parts.append(chunk[pos:] if pos else chunk)
                self._pending += size - pos
                break
            line = chunk[pos:end]
            event = self._joined_line(line) if self._parts else self._line(line)
            if event is not None:
                events.append(event)
            pos = end + 1
            if chunk[end] == _CR:
                if pos == size:
                    self._skip_lf = True
                elif chunk[pos] == _LF:
                    pos += 1
        self._check_size()
        return events

    def _joined_line(self, last: bytes) -> ServerSentEvent | None:
        """Interpret the line whose earlier pieces are held, ``last`` being its final piece."""
        parts, self._parts, self._pending = self._parts, [], 0
        parts.append(last)
        value_start = _data_value_start(parts)
        if value_start is not None:
            # Joined without the field name: the only copy of a large data value.
            self._add_data(b"".join(_drop_prefix(parts, value_start)))
            return None
        return self._line(b"".join(parts))

    def _check_size(self) -> None:
        """Refuse an event that grows beyond ``max_event_bytes`` (complete lines or not)."""
        if self._max is not None and self._held + self._pending > self._max:
            size = self._held + self._pending
            self._parts, self._pending, self._skip_lf = [], 0, False
            self._data, self._event, self._held = [], "", 0
            raise EventTooLargeError(f"an event grew beyond {self._max} bytes (at least {size})")

    def _line(self, line: bytes) -> ServerSentEvent | None:
        """Interpret one line; a ``data`` value is kept as it is (sliced once at most)."""
        if not line:
            return self._dispatch()
        if line[0] == _COLON:
            return None
        colon = line.find(b":")
        name = line if colon == -1 else line[:colon]
        value_start = len(line) if colon == -1 else colon + 1
        if value_start < len(line) and line[value_start] == _SPACE:
            value_start += 1
        if name == b"data":
            self._add_data(line[value_start:])
            return None
        value = line[value_start:].decode("utf-8", "replace")
        if name == b"event":
            self._event = value
        elif name == b"id" and "\0" not in value:
            self.last_event_id = value
        elif name == b"retry" and value.isascii() and value.isdigit():
            # Honoured, within reason: a server must not silence its stream for a year.
            self.retry_ms = min(int(value), MAX_RETRY_MS)
        return None

    def _add_data(self, value: bytes) -> None:
        self._data.append(value)
        self._held += len(value) + 1

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._held = [], "", 0
        if not data:
            return None
        joined = data[0] if len(data) == 1 else b"\n".join(data)
        return ServerSentEvent(event or "message", joined, self.last_event_id)


def _head(parts: list[bytes], size: int) -> bytes:
    """The first ``size`` bytes of the pieces (fewer if they are shorter)."""
    out = b""
    for part in parts:
        out += part[: size - len(out)]
        if len(out) >= size:
            break
    return out


def _data_value_start(parts: list[bytes]) -> int | None:
    """Where a ``data:`` line's value starts (after one optional space), or None: not data."""
    head = _head(parts, len(_DATA) + 1)
    if not head.startswith(_DATA):
        return None
    return len(_DATA) + 1 if head.endswith(b" ") else len(_DATA)


def _drop_prefix(parts: list[bytes], count: int) -> list[bytes]:
    """The pieces without their first ``count`` bytes."""
    out = list(parts)
    while count and out:
        first = out[0]
        if len(first) <= count:
            count -= len(first)
            out.pop(0)
        else:
            out[0] = first[count:]
            count = 0
    return out


_DATA = b"data:"
_CR = ord("\r")
_LF = ord("\n")


class EventTooLargeError(ValueError):
    """An event exceeded the decoder's ``max_event_bytes``; the stream cannot go on."""


__all__ = ["MAX_RETRY_MS", "EventTooLargeError", "SSEDecoder", "ServerSentEvent"]
