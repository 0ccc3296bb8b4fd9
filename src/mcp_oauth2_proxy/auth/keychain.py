"""The OS keychain (macOS Keychain, Windows Credential Locker, Secret Service) via ``keyring``.

Decision: the keychain holds only the encrypted file store's 32-byte key, never
the entries themselves. One small item per cache directory fits every
backend (the Windows Credential Locker refuses values beyond about 2.5 KB,
and an entry with a long refresh token, a registration and an id token can
exceed that), means one keychain prompt instead of one per identity, and keeps
the entries enumerable so ``logout --all`` works. The refresh tokens stay as
safe as the keychain: without the key the files are opaque.

Keychain calls can hang (a locked Secret Service waiting for a prompt), so
each runs in a daemon thread with a timeout; when the keychain is unusable the
key file is used instead (``tokenStore=auto``) or the store fails
(``tokenStore=keyring``). ``keyring`` is imported lazily (start-up time).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import StoreError
from ..log import get_logger
from .store import KEY_BYTES, KEY_FILE, FileStore

log = get_logger(__name__)
_T = TypeVar("_T")

SERVICE = "mcp-oauth2-proxy"
KEYCHAIN_TIMEOUT_SECONDS = 10.0
KEY_LOCK_FILE = "key.lock"
KEY_LOCK_TIMEOUT_SECONDS = 30.0
NO_BACKEND = "no OS keychain backend is available"


class KeychainUnavailableError(Exception):
    """The keychain cannot be used right now (no backend, locked, hung, refused)."""


def is_real_backend(backend: Any) -> bool:
    """False for keyring's placeholders: the fail and null backends, or a chain of nothing."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, chainer.ChainerBackend):
        return any(is_real_backend(b) for b in backend.backends)
    return not isinstance(backend, (fail.Keyring, null.Keyring))


def default_backend() -> Any:
    """The backend ``keyring`` selected for this machine, or None when it is a placeholder."""
    import keyring

    backend = keyring.get_keyring()
    return backend if is_real_backend(backend) else None


def call_with_timeout(fn: Callable[[], _T], timeout: float) -> _T:
    """Run ``fn`` in a daemon thread; give up after ``timeout`` seconds.

    A daemon thread, not an executor: a hung keychain call must not keep the
    process from exiting.

    Raises:
        KeychainUnavailableError: ``fn`` did not finish in time.

    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - carried to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="keychain", daemon=True).start()
    if not done.wait(timeout):
        raise KeychainUnavailableError(
            f"the OS keychain did not answer within {timeout:g} s (is it locked?)"
        )
    if "error" in box:
        raise box["error"]
    value: _T = box["value"]
    return value


class KeychainKey:
    """A :class:`~.store.KeySource` keeping the file store's key in the OS keychain."""

    def __init__(
        self,
        *,
        backend: Callable[[], Any] = default_backend,
        required: bool = False,
        timeout: float = KEYCHAIN_TIMEOUT_SECONDS,
    ) -> None:
        self._backend_factory = backend
        self._required = required
        self._timeout = timeout
        self.backend_name: str | None = None
        self.fell_back: str | None = None

    def describe(self) -> str:
        """Where the key is, once known."""
        if self.fell_back is not None:
            return f"key file (OS keychain unavailable: {self.fell_back})"
        if self.backend_name is not None:
            return f"OS keychain ({self.backend_name})"
        return "OS keychain, when usable"

    def load_key(self, store: FileStore) -> bytes:
        """Return the key from the keychain, or from the key file when the keychain fails.

        Raises:
            StoreError: the keychain is unusable and ``tokenStore=keyring`` forbids the file.

        """
        try:
            return call_with_timeout(lambda: self._load_or_create(store), self._timeout)
        except KeychainUnavailableError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - backends raise D-Bus, COM, OS errors alike
            reason = f"{type(exc).__name__}: {exc}"
        if self._required:
            raise StoreError(
                f"OAUTH2_TOKEN_STORE=keyring, but the OS keychain is unusable: {reason}"
            )
        # No keychain at all is normal (servers, containers); a failing one is worth a warning.
        report = log.info if reason == NO_BACKEND else log.warning
        report("oauth.keychain_unavailable", reason=reason, fallback="key file")
        self.fell_back = reason
        return store.file_key()

    def _load_or_create(self, store: FileStore) -> bytes:
        backend = self._backend_factory()
        if backend is None:
            raise KeychainUnavailableError(NO_BACKEND)
        self.backend_name = type(backend).__name__
        from filelock import FileLock

        user = item_name(store)
        # One creator at a time, or two processes would each store a different key.
        with FileLock(str(store.directory / KEY_LOCK_FILE), mode=0o600).acquire(
            timeout=KEY_LOCK_TIMEOUT_SECONDS
        ):
            stored = backend.get_password(SERVICE, user)
            if stored:
                return _decode(stored)
            key, imported = _initial_key(store)
            encoded = base64.b64encode(key).decode("ascii")
            backend.set_password(SERVICE, user, encoded)
            if backend.get_password(SERVICE, user) != encoded:
                raise KeychainUnavailableError("the OS keychain did not keep the key")
            if imported:
                # Only the keychain holds the key now.
                with contextlib.suppress(OSError):
                    (store.directory / KEY_FILE).unlink()
            log.info("oauth.keychain_key_created", backend=self.backend_name, imported=imported)
            return key


def item_name(store: FileStore) -> str:
    """The keychain account name of ``store``'s key (one per cache directory)."""
    digest = hashlib.sha256(str(store.directory.resolve()).encode("utf-8")).hexdigest()
    return f"file-store-key:{digest[:16]}"


def _initial_key(store: FileStore) -> tuple[bytes, bool]:
    """An existing key file's key (so stored logins survive the move), else a new key."""
    path = store.directory / KEY_FILE
    try:
        existing = path.read_bytes()
    except OSError:
        existing = b""
    if len(existing) == KEY_BYTES:
        return existing, True
    return secrets.token_bytes(KEY_BYTES), False


def _decode(stored: str) -> bytes:
    try:
        key = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeychainUnavailableError("the keychain item holding the key is damaged")
    return key


__all__ = [
    "KEYCHAIN_TIMEOUT_SECONDS",
    "SERVICE",
    "KeychainKey",
    "KeychainUnavailableError",
    "call_with_timeout",
    "default_backend",
    "is_real_backend",
    "item_name",
]
