"""Where refresh tokens live between runs: the ``TokenStore`` seam and its backends.

Entries are JSON objects keyed by :class:`StoreKey` (authorization server,
client id, resource). :class:`FileStore` encrypts every entry with AES-256-GCM
under a random 32-byte key kept in a separate file; the entry's identity is the
associated data, so an entry copied onto another identity's file does not
decrypt. Files are written atomically (temporary file, fsync, rename) and are
private to the user (directory 0700, files 0600). Nothing is ever written in
clear text. A damaged entry is reported once and treated as absent.

Every store also hands out a lock per identity (:meth:`TokenStore.lock`): for
files it is an OS file lock beside the entry, so several proxy processes
refresh or log in one at a time; for memory an ``asyncio.Lock``. The file
store's key comes from a :class:`KeySource`: the key file by default, or the
OS keychain (:mod:`.keychain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import StoreError
from ..log import get_logger
from .locks import hold_file_lock

log = get_logger(__name__)

APP_NAME = "mcp-oauth2-proxy"
KEY_FILE = "key.bin"
ENTRY_SUFFIX = ".tok"
LOCK_SUFFIX = ".lock"
MAGIC = b"MOP1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_ENTRY_BYTES = 1024 * 1024
_POSIX = os.name == "posix"

Entry = dict[str, Any]


@dataclass(frozen=True)
class StoreKey:
    """The identity an entry belongs to (SPEC §3 Storage)."""

    authorization_server: str
    client_id: str
    resource: str
    kind: str = "tokens"

    def canonical(self) -> bytes:
        """Stable bytes naming this identity: the AEAD associated data."""
        fields = [1, self.kind, self.authorization_server, self.client_id, self.resource]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    def file_stem(self) -> str:
        """Return a file name that reveals nothing about the identity."""
        return hashlib.sha256(self.canonical()).hexdigest()[:40]


class TokenStore(Protocol):
    """Persistent storage of small JSON entries per identity."""

    async def load(self, key: StoreKey) -> Entry | None:
        """Return the entry for ``key``, or None when absent or unreadable."""
        ...

    async def save(self, key: StoreKey, entry: Mapping[str, Any]) -> None:
        """Replace the entry for ``key``."""
        ...

    async def delete(self, key: StoreKey) -> None:
        """Forget the entry for ``key`` (no error when absent)."""
        ...

    def lock(self, key: StoreKey) -> AbstractAsyncContextManager[None]:
        """Hold ``key``'s lock (across processes where the store is shared) while in use."""
        ...

    async def clear(self) -> int:
        """Forget every entry; return how many there were."""
        ...

    def describe(self) -> str:
        """Say where entries live, for ``status`` (never a secret)."""
        ...


class MemoryStore:
    """Entries kept in this process only (``OAUTH2_TOKEN_STORE=memory``, tests)."""

    def __init__(self) -> None:
        self.entries: dict[StoreKey, Entry] = {}
        self._locks: dict[StoreKey, asyncio.Lock] = {}

    @asynccontextmanager
    async def lock(self, key: StoreKey) -> AsyncIterator[None]:
        """Hold an in-process lock for ``key``."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            yield

    async def clear(self) -> int:
        """Forget every entry."""
        count = len(self.entries)
        self.entries.clear()
        return count

    def describe(self) -> str:
        """This process's memory only."""
        return "memory (this process only)"

    async def load(self, key: StoreKey) -> Entry | None:
        """Return a copy of the entry for ``key``."""
        entry = self.entries.get(key)
        return dict(entry) if entry is not None else None

    async def save(self, key: StoreKey, entry: Mapping[str, Any]) -> None:
        """Keep a copy of ``entry``."""
        self.entries[key] = dict(entry)

    async def delete(self, key: StoreKey) -> None:
        """Drop the entry for ``key``."""
        self.entries.pop(key, None)


@asynccontextmanager
async def hold(store: TokenStore, key: StoreKey) -> AsyncIterator[None]:
    """Hold ``store``'s lock for ``key``; a lock that cannot be taken only costs coordination.

    A cache directory that cannot even hold a lock file cannot hold entries
    either: the run then goes on without persistence, as when a write fails.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(store.lock(key))
        except StoreError as exc:
            log.warning("oauth.store_lock_failed", error=str(exc))
        yield


def default_store_dir() -> Path:
    """Return the per-OS user config directory (``~/.config/mcp-oauth2-proxy`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True))


class KeySource(Protocol):
    """Where the file store's 32-byte encryption key comes from."""

    def load_key(self, store: FileStore) -> bytes:
        """Return the key, creating it on first use (runs in a worker thread)."""
        ...

    def describe(self) -> str:
        """Say where the key is kept (never the key)."""
        ...


class FileStore:
    """AES-256-GCM encrypted entries in one private directory."""

    def __init__(
        self, directory: Path | str | None = None, *, key_source: KeySource | None = None
    ) -> None:
        self.directory = Path(directory).expanduser() if directory else default_store_dir()
        self._key: bytes | None = None
        self._reported: set[str] = set()
        self._key_source = key_source

    @asynccontextmanager
    async def lock(self, key: StoreKey) -> AsyncIterator[None]:
        """Hold the OS file lock beside ``key``'s entry (other processes wait)."""
        self._ensure_directory()
        async with hold_file_lock(self.directory / (key.file_stem() + LOCK_SUFFIX)):
            yield

    async def clear(self) -> int:
        """Delete every entry file of this directory (the key stays)."""
        return await asyncio.to_thread(self.clear_sync)

    def clear_sync(self) -> int:
        """Do :meth:`clear` synchronously."""
        if not self.directory.is_dir():
            return 0
        count = 0
        for path in self.directory.glob("*" + ENTRY_SUFFIX):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot delete {path}: {exc.strerror}") from exc
            count += 1
        return count

    def describe(self) -> str:
        """The directory, and where the key is kept."""
        where = self._key_source.describe() if self._key_source else "a key file beside them"
        return f"encrypted files in {self.directory} (key: {where})"

    def file_key(self) -> bytes:
        """Return (creating it if needed) the key kept in the directory's key file."""
        self._ensure_directory()
        return self._read_or_create_key(self.directory / KEY_FILE)

    async def load(self, key: StoreKey) -> Entry | None:
        """Decrypt the entry for ``key``; damaged entries are reported once and ignored."""
        return await asyncio.to_thread(self.load_sync, key)

    async def save(self, key: StoreKey, entry: Mapping[str, Any]) -> None:
        """Encrypt and atomically replace the entry for ``key``."""
        await asyncio.to_thread(self.save_sync, key, entry)

    async def delete(self, key: StoreKey) -> None:
        """Remove the entry file for ``key``."""
        await asyncio.to_thread(self.delete_sync, key)

    # ------------------------------------------------------------ synchronous core

    def path_for(self, key: StoreKey) -> Path:
        """Return the file holding ``key``'s entry."""
        return self.directory / (key.file_stem() + ENTRY_SUFFIX)

    def load_sync(self, key: StoreKey) -> Entry | None:
        """Do :meth:`load` synchronously."""
        path = self.path_for(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the token cache entry {path}: {exc.strerror}") from exc
        entry = self._decrypt(blob, key)
        if entry is None:
            self._report(path, "it is damaged or was written with another key")
        return entry

    def save_sync(self, key: StoreKey, entry: Mapping[str, Any]) -> None:
        """Do :meth:`save` synchronously."""
        plaintext = json.dumps(dict(entry), separators=(",", ":")).encode("utf-8")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._load_key()).encrypt(nonce, plaintext, key.canonical())
        path = self.path_for(key)
        try:
            _atomic_write(path, MAGIC + nonce + sealed)
        except OSError as exc:
            raise StoreError(f"cannot write the token cache entry {path}: {exc.strerror}") from exc
        self._reported.discard(str(path))

    def delete_sync(self, key: StoreKey) -> None:
        """Do :meth:`delete` synchronously."""
        try:
            self.path_for(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete the token cache entry: {exc.strerror}") from exc

    def _decrypt(self, blob: bytes, key: StoreKey) -> Entry | None:
        if len(blob) < len(MAGIC) + NONCE_BYTES + TAG_BYTES or not blob.startswith(MAGIC):
            return None
        if len(blob) > MAX_ENTRY_BYTES:
            return None
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            plaintext = AESGCM(self._load_key()).decrypt(
                nonce, blob[len(MAGIC) + NONCE_BYTES :], key.canonical()
            )
            data = json.loads(plaintext)
        except (InvalidTag, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _report(self, path: Path, why: str) -> None:
        if str(path) in self._reported:
            return
        self._reported.add(str(path))
        log.warning("oauth.store_entry_unreadable", path=str(path), reason=why, action="ignored")

    # ------------------------------------------------------------ key and directory

    def _load_key(self) -> bytes:
        if self._key is None:
            self._ensure_directory()
            if self._key_source is not None:
                self._key = self._key_source.load_key(self)
            else:
                self._key = self._read_or_create_key(self.directory / KEY_FILE)
        return self._key

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the token cache directory {self.directory}: {exc.strerror} "
                "(set OAUTH2_TOKEN_CACHE_DIR to a writable directory)"
            ) from exc
        if _POSIX:
            try:
                self.directory.chmod(0o700)
            except OSError as exc:
                log.warning(
                    "oauth.store_dir_permissions", path=str(self.directory), error=exc.strerror
                )

    def _read_or_create_key(self, path: Path) -> bytes:
        for _ in range(3):
            try:
                key = path.read_bytes()
            except FileNotFoundError:
                _create_key_file(path)  # losing the race to another process is fine: re-read
                continue
            except OSError as exc:
                raise StoreError(f"cannot read the token cache key {path}: {exc.strerror}") from exc
            if len(key) == KEY_BYTES:
                return key
            self._report(path, "the key file has the wrong size; a new key replaces it")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise StoreError(f"cannot create the token cache key {path}")


def _create_key_file(path: Path) -> bool:
    """Create the key file atomically; False when another process won the race."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if the key exists: never replace a key in use
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a 0600 temporary file, fsync and rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # noqa: PTH105 - tests simulate a crash at exactly this call
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); Windows cannot open directories this way."""
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "APP_NAME",
    "Entry",
    "FileStore",
    "KeySource",
    "MemoryStore",
    "StoreKey",
    "TokenStore",
    "default_store_dir",
    "hold",
]
