"""Memory for large messages: reused while they keep coming, given back once they stop.

glibc serves every block above its mmap threshold (32 MiB at most) with a
fresh mapping and unmaps it when it is freed, so each 64 MB result lands in
memory the kernel must fault in and zero page by page: ~16,400 page faults,
2-4 us each on a virtual machine, 35-70 ms of CPU per message, every time.
Messages below the threshold come from the heap, whose pages stay mapped.

:class:`HeapKeeper` asks the allocator to serve large blocks from the heap
too and not to shrink it on its own, as soon as the first message has been
written (after the reply to ``initialize``: a client's launch never waits
for it). A message of :data:`TRIM_AFTER_BYTES` or more then keeps the freed
memory for :data:`RETAIN_S` seconds, for the next large message to reuse;
that long after the last one, every free page goes back to the system. A
burst of large results thus pays for fresh memory once, and a proxy left
idle holds no more than it did before.

Only glibc has the knobs (``mallopt``, ``malloc_trim``); elsewhere (macOS,
Windows, musl) nothing changes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from .log import get_logger

if TYPE_CHECKING:
    import ctypes

    from .bridge import MessageSink

RETAIN_S = 10.0
"""How long freed memory is kept after the last large message, for the next one to reuse."""
TRIM_AFTER_BYTES = 128 * 1024
"""Messages from this size on (glibc's default mmap threshold) count as large."""
HEAP_TRIM_LIMIT = 1 << 30
"""While held, glibc trims the heap by itself only when this much is free at its top."""
_M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
_M_MMAP_MAX = -4
_log = get_logger(__name__)

Schedule = Callable[[float, Callable[[], None]], "Cancellable"]
"""Run a callback after a delay (seconds); returns a handle that can cancel it."""


class Cancellable(Protocol):
    """A scheduled callback that has not run yet (``asyncio.TimerHandle``)."""

    def cancel(self) -> None:
        """Do not run it."""


class HeapPolicy(Protocol):
    """The allocator's knobs."""

    def hold(self) -> bool:
        """Serve large blocks from the heap and keep freed memory; False if refused."""

    def release(self) -> None:
        """Give every free page back to the system."""


class GlibcHeap:
    """:class:`HeapPolicy` through glibc's ``mallopt`` and ``malloc_trim``."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc

    @classmethod
    def load(cls) -> GlibcHeap | None:
        """The running C library's knobs, or None when it is not glibc."""
        try:
            if not os.confstr("CS_GNU_LIBC_VERSION"):
                return None
        except (AttributeError, ValueError, OSError):  # no confstr, or a libc without the name
            return None
        import ctypes  # ~5 ms: paid after the first reply, never during a launch

        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            return None
        return cls(libc)

    def hold(self) -> bool:
        """No mmap for large blocks; trim only far beyond anything a message needs."""
        return bool(
            self._libc.mallopt(_M_MMAP_MAX, 0)
            and self._libc.mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_LIMIT)
        )

    def release(self) -> None:
        """``malloc_trim(0)``: free pages anywhere in the heap go back, not only at its top."""
        self._libc.malloc_trim(0)


class HeapKeeper:
    """Holds freed memory while large messages come, releases it :data:`RETAIN_S` after the last.

    It is told the size of every message, in both directions, once it has
    been handled. The policy is loaded when the first message has been
    written (``load`` imports ctypes: not while a client waits for its first
    reply), and the release is scheduled on the event loop unless
    ``schedule`` says otherwise.
    """

    def __init__(
        self,
        load: Callable[[], HeapPolicy | None] = GlibcHeap.load,
        *,
        retain_s: float = RETAIN_S,
        schedule: Schedule | None = None,
    ) -> None:
        self._load: Callable[[], HeapPolicy | None] | None = load
        self._policy: HeapPolicy | None = None
        self._retain_s = retain_s
        self._schedule = schedule or _call_later
        self._release: Cancellable | None = None

    def written(self, size: int) -> None:
        """One message of ``size`` bytes has been written to the client; the first one loads."""
        if self._load is not None:
            self._start()
        self.seen(size)

    def seen(self, size: int) -> None:
        """One message of ``size`` bytes has been handled (read or written)."""
        if self._policy is None or size < TRIM_AFTER_BYTES:
            return
        if self._release is not None:
            self._release.cancel()
        self._release = self._schedule(self._retain_s, self._trim)

    def close(self) -> None:
        """Give the memory back now and stop scheduling."""
        if self._release is not None:
            self._release.cancel()
            self._trim()
        self._policy = None

    def _start(self) -> None:
        load, self._load = self._load, None
        policy = load() if load is not None else None
        if policy is not None and policy.hold():
            self._policy = policy
        _log.debug("heap.kept", enabled=self._policy is not None)

    def _trim(self) -> None:
        self._release = None
        if self._policy is not None:
            self._policy.release()
            _log.debug("heap.released")


class SeenSink:
    """A :class:`MessageSink` that tells a :class:`HeapKeeper` the size of each message sent."""

    def __init__(self, sink: MessageSink, keeper: HeapKeeper) -> None:
        self._sink = sink
        self._keeper = keeper

    async def send(self, line: bytes) -> None:
        """Send ``line``; once it is out, report its size."""
        await self._sink.send(line)
        self._keeper.written(len(line))


async def seen_lines(source: AsyncIterable[bytes], keeper: HeapKeeper) -> AsyncIterator[bytes]:
    """``source``'s lines; each one's size is reported once the consumer is done with it."""
    async for line in source:
        yield line
        keeper.seen(len(line))


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(delay, callback)


__all__ = [
    "HEAP_TRIM_LIMIT",
    "RETAIN_S",
    "TRIM_AFTER_BYTES",
    "Cancellable",
    "GlibcHeap",
    "HeapKeeper",
    "HeapPolicy",
    "Schedule",
    "SeenSink",
    "seen_lines",
]
