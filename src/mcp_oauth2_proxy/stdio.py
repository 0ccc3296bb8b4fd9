"""stdio framing: newline-delimited messages in from stdin, whole lines out to stdout.

A line longer than ``maxLineBytes`` is not buffered to the end: its first
bytes are kept (to answer the request it carried) and the rest is skipped
until the next newline, so memory stays bounded whatever a client sends.
The reader reads the raw file descriptor from a daemon thread, which
works for pipes and Windows consoles alike and never holds the buffered
``sys.stdin`` lock that would block interpreter shutdown. The writer is the only
code in the program that touches stdout.
"""

from __future__ import annotations

import asyncio
import collections
import os
import select
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

import anyio

from .jsonrpc import OversizedLine
from .log import get_logger

CHUNK_SIZE = 1 << 16
DEFAULT_MAX_LINE_BYTES = 128 * 1024 * 1024
"""The default of ``maxLineBytes``: the longest stdin line (one client message) accepted."""
OVERSIZED_HEAD_BYTES = 64 * 1024
"""How much of an over-long line is kept: enough for its ``id``."""
_READ_AHEAD_CHUNKS = 4
_log = get_logger(__name__)


class LineSplitter:
    """Split a byte stream into lines at LF, dropping the LF and one trailing CR.

    Pure: ``feed`` returns the complete lines, ``close`` the unterminated rest.
    Bytes are returned exactly as received otherwise (no decoding). A line
    longer than ``max_line_bytes`` comes out as an :class:`OversizedLine`
    holding only its start; at most ``max_line_bytes`` plus one chunk is ever
    buffered.
    """

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self._buf = bytearray()
        self._max = max_line_bytes
        self._head = b""
        self._skipped: int | None = None  # bytes of an oversized line discarded so far

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume ``chunk`` and return every line it completed."""
        lines: list[bytes] = []
        if self._skipped is not None:
            end = chunk.find(b"\n")
            if end == -1:
                self._skipped += len(chunk)
                return lines
            lines.append(self._oversized(self._head, self._skipped + end))
            self._skipped = None
            chunk = chunk[end + 1 :]
        scan_from = len(self._buf)
        self._buf += chunk
        start = 0
        # Through a memoryview: one copy per line (a bytearray slice would be a second).
        with memoryview(self._buf) as view:
            while (end := self._buf.find(b"\n", max(start, scan_from))) != -1:
                if self._max is not None and end - start > self._max:
                    head = bytes(view[start : start + OVERSIZED_HEAD_BYTES])
                    lines.append(self._oversized(head, end - start))
                else:
                    lines.append(_strip_cr(view[start:end]))
                start = end + 1
        del self._buf[:start]
        if self._max is not None and len(self._buf) > self._max:
            self._head, self._skipped = bytes(self._buf[:OVERSIZED_HEAD_BYTES]), len(self._buf)
            self._buf = bytearray()
        return lines

    def close(self) -> list[bytes]:
        """Return the final line when the stream ended without a newline."""
        if self._skipped is not None:
            line, self._skipped = self._oversized(self._head, self._skipped), None
            return [line]
        rest, self._buf = self._buf, bytearray()
        return [_strip_cr(memoryview(rest))] if rest else []

    def _oversized(self, head: bytes, size: int) -> OversizedLine:
        return OversizedLine(head, size=size, limit=self._max or 0)


def _strip_cr(line: bytes | memoryview) -> bytes:
    if line[-1:] == b"\r":
        line = line[:-1]
    return bytes(line)


class StdioReader:
    """Async iterator over the lines of a binary stream.

    By default the stream is stdin. When it is a pipe or a socket (what MCP
    clients launch the proxy with) and the event loop can watch it (POSIX),
    chunks are read on the loop when it reports data; otherwise (a terminal,
    a regular file, Windows, or a ``read`` callable given instead) a daemon
    thread calls the blocking ``read(n) -> bytes`` (``b""`` at end of file),
    by default the unbuffered raw stdin, and hands each chunk to the loop: a
    line took 130-140 us from the pipe to the proxy that way, 12-22 us read
    on the loop. Back-pressure either way: at most a few chunks are read
    ahead of the consumer.
    """

    def __init__(
        self,
        read: Callable[[int], bytes] | None = None,
        *,
        max_line_bytes: int | None = DEFAULT_MAX_LINE_BYTES,
        fd: int | None = None,
    ) -> None:
        self._read = read
        self._fd = _stdin_fd() if read is None and fd is None else fd
        self._splitter = LineSplitter(max_line_bytes)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield each line as raw bytes, without its line ending."""
        loop = asyncio.get_running_loop()
        chunks: _LoopChunks | _ThreadedChunks | None = None
        if self._fd is not None:
            chunks = _LoopChunks.watch(self._fd, loop)
        if chunks is None:
            chunks = _ThreadedChunks(self._read or _stdin_read(), loop)
        try:
            while chunk := await chunks.next():
                for line in self._splitter.feed(chunk):
                    yield line
            for line in self._splitter.close():
                yield line
        finally:
            chunks.close()


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin, or not a real file
        return None


def _stdin_read() -> Callable[[int], bytes]:
    raw = getattr(sys.stdin.buffer, "raw", sys.stdin.buffer)
    read: Callable[[int], bytes] = raw.read
    return read


class _LoopChunks:
    """Chunks read on the event loop whenever ``fd`` has data; reading pauses when enough wait.

    Only for pipes and sockets. The descriptor stays in blocking mode (the
    mode belongs to the open file, which the client may share): once a pipe
    or socket is reported readable, a ``read`` returns at once, with data or
    end of file. Nothing else reads the proxy's stdin (its children get
    ``/dev/null``). Terminals keep the thread: not every platform's selector
    reports them.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._loop = loop
        self._ready: collections.deque[bytes] = collections.deque()
        self._arrived: asyncio.Future[None] | None = None
        self._watching = False
        self._ended = False

    @classmethod
    def watch(cls, fd: int, loop: asyncio.AbstractEventLoop) -> _LoopChunks | None:
        """Start reading ``fd`` on ``loop``; None for anything but a pipe or socket it can watch."""
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            return None
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return None
        chunks = cls(fd, loop)
        try:
            chunks._resume()
        except (OSError, NotImplementedError, ValueError):  # e.g. Windows' proactor loop
            return None
        return chunks

    def _resume(self) -> None:
        self._loop.add_reader(self._fd, self._on_readable)
        self._watching = True

    def _pause(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._fd, CHUNK_SIZE)
        except (BlockingIOError, InterruptedError):
            return  # nothing after all; the loop reports the next data
        except OSError as exc:  # closed or unreadable stdin ends input
            _log.warning("stdio.read_failed", error=str(exc))
            chunk = b""
        self._ready.append(chunk)
        self._ended = not chunk
        if self._ended or len(self._ready) >= _READ_AHEAD_CHUNKS:
            self._pause()
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def next(self) -> bytes:
        while not self._ready:
            self._arrived = self._loop.create_future()
            await self._arrived
        chunk = self._ready.popleft()
        if not (self._watching or self._ended):
            self._resume()
        return chunk

    def close(self) -> None:
        """Stop watching the descriptor (it stays open: it is stdin)."""
        self._pause()


class _ThreadedChunks:
    """A daemon thread that reads chunks and hands them to the event loop."""

    def __init__(self, read: Callable[[int], bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._read = read
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._slots = threading.Semaphore(_READ_AHEAD_CHUNKS)
        threading.Thread(target=self._run, name="stdin-reader", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._slots.acquire()
            try:
                chunk = self._read(CHUNK_SIZE) or b""
            except (OSError, ValueError) as exc:  # closed or unreadable stdin ends input
                _log.warning("stdio.read_failed", error=str(exc))
                chunk = b""
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
            except RuntimeError:  # the loop is gone: the program is exiting
                return
            if not chunk:
                return

    async def next(self) -> bytes:
        chunk = await self._queue.get()
        self._slots.release()
        return chunk

    def close(self) -> None:
        """Nothing to undo: the daemon thread ends with the input or the program."""


STDOUT_PIPE_BYTES = 1 << 20
"""The size the proxy asks for its stdout pipe (Linux): 1 MiB, the unprivileged maximum."""


def grow_pipe(fd: int, size: int = STDOUT_PIPE_BYTES) -> int | None:
    """Enlarge the pipe behind ``fd`` to ``size`` bytes where the OS allows; return its size.

    A default Linux pipe holds 64 KiB, so a 64 MB message crosses it in 1,024
    hand-offs between the proxy and the client, each a context switch; with
    1 MiB it takes 64, and a 64 MB result spent 55-60 ms in the pipe instead
    of 100-120 ms. Only the buffering changes, never what is written or its
    order. Returns None, changing nothing, where ``fd`` is no pipe, the
    platform has no ``F_SETPIPE_SZ``, or the user's pipe quota says no; a pipe
    already at least ``size`` is left as it is.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if get_size is None or set_size is None:  # not Linux
        return None
    try:
        current = fcntl.fcntl(fd, get_size)
        return current if current >= size else fcntl.fcntl(fd, set_size, size)
    except OSError:  # not a pipe, or above /proc/sys/fs/pipe-max-size or the user's quota
        return None


INLINE_WRITE_BYTES = getattr(select, "PIPE_BUF", 0)
"""Batches up to this size are written from the event loop when stdout can take them at once."""


class StdioWriter:
    """Write one whole JSON-RPC message per line and flush; lines never interleave.

    Lines that arrive while a write is in progress are written together, with
    one flush, by the task already writing. Under load this turns one
    ``write`` system call per message into one per batch. A batch of at most
    :data:`INLINE_WRITE_BYTES` (``PIPE_BUF``) is written directly when
    ``ready()`` says stdout can take it without blocking (a pipe with room);
    anything else is written from a worker thread, so a client that stops
    reading never stalls the event loop. The thread hop cost ~270 us of CPU
    and wall time per small message, about a tenth of what a tool call costs
    the proxy. A closed stdout (the client went away) is not an error: the
    writer goes quiet, drops later messages and calls ``on_closed`` once so
    the program can shut down.
    """

    def __init__(
        self,
        stream: BinaryIO | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream or sys.stdout.buffer
        self._ready = _writable_now(self._stream)
        self.on_closed = on_closed
        self.closed = False
        self._pending: list[bytes] = []
        self._batch_written = anyio.Event()
        self._writing = False

    async def send(self, line: bytes) -> None:
        """Write ``line`` plus a newline; return once it is flushed."""
        if self.closed:
            return
        self._pending.append(line)
        written = self._batch_written
        if self._writing:
            await written.wait()
            return
        self._writing = True
        try:
            # Shielded: the lines other tasks queued behind this one are written
            # even when this task is cancelled meanwhile.
            with anyio.CancelScope(shield=True):
                await self._write_pending()
        finally:
            self._writing = False

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            written, self._batch_written = self._batch_written, anyio.Event()
            try:
                if not self.closed:
                    if self._fits_now(batch):
                        self._write(batch)
                    else:
                        await anyio.to_thread.run_sync(self._write, batch)
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError) as exc:
                self.closed = True
                _log.info("stdio.stdout_closed", error=str(exc))
                if self.on_closed is not None:
                    self.on_closed()
            finally:
                written.set()

    def _fits_now(self, batch: list[bytes]) -> bool:
        return sum(len(line) + 1 for line in batch) <= INLINE_WRITE_BYTES and self._ready()

    def _write(self, batch: list[bytes]) -> None:
        write = self._stream.write
        for line in batch:
            # Two writes, not ``line + b"\n"``: a large message is never copied.
            write(line)
            write(b"\n")
        self._stream.flush()


def _writable_now(stream: BinaryIO) -> Callable[[], bool]:
    """A probe telling whether ``stream`` can take ``PIPE_BUF`` bytes now; always no if unknown.

    ``poll`` reports a pipe writable while it has room for an atomic write of
    ``PIPE_BUF`` bytes, which therefore cannot block.
    """
    try:
        fd = stream.fileno()
        probe = select.poll()  # absent on Windows
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return lambda: False
    probe.register(fd, select.POLLOUT)

    def ready() -> bool:
        try:
            return any(mask & select.POLLOUT for _, mask in probe.poll(0))
        except OSError:
            return False

    return ready


__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_LINE_BYTES",
    "INLINE_WRITE_BYTES",
    "STDOUT_PIPE_BYTES",
    "LineSplitter",
    "StdioReader",
    "StdioWriter",
    "grow_pipe",
]
