"""Cross-process locks: one OS file lock per identity, beside the token store.

The lock is taken with non-blocking attempts from the event loop, so waiting
never ties up a thread and a cancelled wait can never leave the lock held. The
operating system releases the lock when its holder dies, so a crashed proxy
never blocks the others: the next waiter takes over. ``filelock`` is imported
lazily (start-up time).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..errors import StoreError
from ..log import get_logger

log = get_logger(__name__)
POLL_SECONDS = 0.05
WAIT_NOTICE_SECONDS = 1.0


@asynccontextmanager
async def hold_file_lock(path: Path, *, poll: float = POLL_SECONDS) -> AsyncIterator[None]:
    """Hold the OS lock on ``path`` for the body of the ``async with``.

    Raises:
        StoreError: the lock file cannot be created.

    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), mode=0o600)
    loop = asyncio.get_running_loop()
    started = loop.time()
    noticed = False
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except Timeout:
            pass
        except OSError as exc:
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        if not noticed and loop.time() - started >= WAIT_NOTICE_SECONDS:
            noticed = True
            log.info("oauth.waiting_for_other_process", lock=path.name)
        # Jitter keeps several waiting processes from polling in lockstep.
        await asyncio.sleep(poll * (0.5 + random.random()))  # noqa: S311 - not cryptographic
    try:
        yield
    finally:
        lock.release()


__all__ = ["POLL_SECONDS", "hold_file_lock"]
