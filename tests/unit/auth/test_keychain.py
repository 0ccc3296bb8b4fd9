from __future__ import annotations

import threading
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from mcp_oauth2_proxy.auth import make_store
from mcp_oauth2_proxy.auth.keychain import SERVICE, KeychainKey, is_real_backend, item_name
from mcp_oauth2_proxy.auth.store import KEY_FILE, FileStore, StoreKey
from mcp_oauth2_proxy.errors import StoreError
from tests.support.auth_helpers import make_settings

pytestmark = pytest.mark.anyio
KEY = StoreKey("https://auth.test", "client", "https://mcp.test/mcp")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend, like the OS keychain without the OS."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


class HangingKeyring(MemoryKeyring):
    """A locked Secret Service: every call waits for an unlock that never comes."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:  # noqa: ARG002
        self.release.wait(5)
        return None


def keychain_store(tmp_path: Path, backend: object, **kwargs: object) -> FileStore:
    return FileStore(tmp_path, key_source=KeychainKey(backend=lambda: backend, **kwargs))  # type: ignore[arg-type]


async def test_keychain_holds_the_key_and_no_key_file_is_written(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    store = keychain_store(tmp_path, ring)
    await store.save(KEY, {"refresh_token": "rt-secret"})
    assert (SERVICE, item_name(store)) in ring.items
    assert not (tmp_path / KEY_FILE).exists()
    again = keychain_store(tmp_path, ring)
    assert await again.load(KEY) == {"refresh_token": "rt-secret"}
    assert "OS keychain (MemoryKeyring)" in again.describe()


async def test_an_existing_key_file_moves_into_the_keychain_and_old_logins_survive(
    tmp_path: Path,
) -> None:
    await FileStore(tmp_path).save(KEY, {"refresh_token": "rt-old"})
    ring = MemoryKeyring()
    store = keychain_store(tmp_path, ring)
    assert await store.load(KEY) == {"refresh_token": "rt-old"}
    assert not (tmp_path / KEY_FILE).exists()


async def test_without_a_usable_keychain_the_key_file_is_used(tmp_path: Path) -> None:
    store = keychain_store(tmp_path, None)
    await store.save(KEY, {"refresh_token": "rt"})
    assert (tmp_path / KEY_FILE).exists()
    assert await FileStore(tmp_path).load(KEY) == {"refresh_token": "rt"}
    assert "unavailable" in store.describe()


async def test_a_hanging_keychain_times_out_and_falls_back_to_the_file(tmp_path: Path) -> None:
    ring = HangingKeyring()
    store = keychain_store(tmp_path, ring, timeout=0.2)
    await store.save(KEY, {"refresh_token": "rt"})
    ring.release.set()
    assert (tmp_path / KEY_FILE).exists()
    assert "did not answer" in store.describe()


async def test_forced_keyring_store_fails_instead_of_falling_back(tmp_path: Path) -> None:
    store = keychain_store(tmp_path, None, required=True)
    with pytest.raises(StoreError, match="OAUTH2_TOKEN_STORE=keyring"):
        await store.save(KEY, {"refresh_token": "rt"})
    assert not (tmp_path / KEY_FILE).exists()


def test_placeholder_backends_do_not_count_as_a_keychain() -> None:
    assert not is_real_backend(fail.Keyring())
    assert not is_real_backend(null.Keyring())
    assert is_real_backend(MemoryKeyring())
    empty_chain = chainer.ChainerBackend()
    if not empty_chain.backends:  # on a machine without any real backend
        assert not is_real_backend(empty_chain)


async def test_token_store_setting_picks_the_backend(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    auto = make_store(
        make_settings(tokenStore="auto", tokenCacheDir=str(tmp_path)), keychain=lambda: ring
    )
    await auto.save(KEY, {"refresh_token": "rt"})
    assert ring.items
    plain = make_store(make_settings(tokenStore="file", tokenCacheDir=str(tmp_path / "f")))
    assert "a key file beside them" in plain.describe()
    assert make_store(make_settings(tokenStore="memory")).describe().startswith("memory")
