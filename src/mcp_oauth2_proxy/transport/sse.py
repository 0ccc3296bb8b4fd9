"""An incremental Server-Sent Events decoder (WHATWG HTML §9.2.6), pure and chunk-agnostic.

Bytes go in as they arrive from the network, in any chunking; whole events
come out. The decoder remembers the last event id and the server's ``retry``
hint, which the transport needs to resume a cut stream with ``Last-Event-ID``.
"""

from __future__ import annotations

import io

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
    chunks is written, without its ``data:`` prefix, into one growing buffer
    as its pieces arrive and handed out without a further copy when its end
    arrives. A 64 MB event is copied once, while the upstream is still sending.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._max = max_event_bytes
        self._held = 0  # data bytes of the event being built
        self._partial: _PartialLine | None = None  # a line still waiting for its end
        self._skip_lf = False  # the last chunk ended in CR: an LF first in the next one is its pair
        self._bom_head = b""
        self._started = False
        self._data: list[bytes] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def reset_stream(self) -> None:
        """Forget partial input before reading a new connection; keep the id and retry."""
        self._partial, self._skip_lf = None, False
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
                self._partial = self._partial or _PartialLine()
                self._partial.add(chunk[pos:] if pos else chunk)
                break
            line = chunk[pos:end]
            partial = self._partial
            event = self._line(line) if partial is None else self._completed(partial, line)
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

    def _completed(self, partial: _PartialLine, last: bytes) -> ServerSentEvent | None:
        """Interpret the partial line that ``last`` ends."""
        self._partial = None
        is_data, value = partial.finish(last)
        if is_data:
            self._add_data(value)
            return None
        return self._line(value)

    def _check_size(self) -> None:
        """Refuse an event that grows beyond ``max_event_bytes`` (complete lines or not)."""
        partial = 0 if self._partial is None else self._partial.size
        if self._max is not None and self._held + partial > self._max:
            size = self._held + partial
            self._partial, self._skip_lf = None, False
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


class _PartialLine:
    """A line still waiting for its end, copied piece by piece into one growing buffer.

    As soon as the line's first bytes tell a ``data`` field, its name is left
    out: the buffer then holds only the value, and ``finish`` hands it out
    without a copy (``BytesIO.getvalue``).
    """

    __slots__ = ("_body", "_head", "_is_data", "size")

    def __init__(self) -> None:
        self._head = b""  # the first bytes, while too few to tell the field
        self._body: io.BytesIO | None = None
        self._is_data = False
        self.size = 0

    def add(self, piece: bytes) -> None:
        """Append the next piece of the line."""
        self.size += len(piece)
        if self._body is not None:
            self._body.write(piece)
            return
        head = self._head + piece if self._head else piece
        if len(head) < _FIELD_HEAD:
            self._head = head
            return
        self._head = b""
        start = _data_value_start(head)
        self._is_data = start is not None
        self._body = io.BytesIO()
        with memoryview(head) as view:
            self._body.write(view[start or 0 :])

    def finish(self, last: bytes) -> tuple[bool, bytes]:
        """Append the last piece; return (is a data line, its value) or (False, the whole line)."""
        self.add(last)
        if self._body is None:  # too short to have needed the buffer
            return False, self._head
        return self._is_data, self._body.getvalue()


def _data_value_start(head: bytes) -> int | None:
    """Where a ``data:`` line's value starts (after one optional space), or None: not data."""
    if not head.startswith(_DATA):
        return None
    return len(_DATA) + 1 if head[len(_DATA) : len(_DATA) + 1] == b" " else len(_DATA)


_DATA = b"data:"
_FIELD_HEAD = len(_DATA) + 1  # enough to tell a data line and its optional space
_CR = ord("\r")
_LF = ord("\n")


class EventTooLargeError(ValueError):
    """An event exceeded the decoder's ``max_event_bytes``; the stream cannot go on."""


__all__ = ["MAX_RETRY_MS", "EventTooLargeError", "SSEDecoder", "ServerSentEvent"]
