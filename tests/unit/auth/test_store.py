from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mcp_oauth2_proxy.auth import store as store_module
from mcp_oauth2_proxy.auth.store import FileStore, MemoryStore, StoreKey, default_store_dir
from mcp_oauth2_proxy.errors import StoreError

KEY = StoreKey("https://auth.test", "client", "https://mcp.test/mcp")
OTHER = StoreKey("https://auth.test", "client", "https://other.test/mcp")
SECRET = "rt-very-secret-refresh-token"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def entry(token: str = SECRET) -> dict[str, object]:
    return {"refresh_token": token, "scope": "mcp:read"}


def test_entries_round_trip(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry())
    assert FileStore(tmp_path).load_sync(KEY) == entry()


def test_absent_entry_is_none(tmp_path: Path) -> None:
    assert FileStore(tmp_path).load_sync(KEY) is None


def test_delete_forgets_the_entry(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry())
    store.delete_sync(KEY)
    store.delete_sync(KEY)
    assert store.load_sync(KEY) is None


def test_no_plaintext_token_on_disk(tmp_path: Path) -> None:
    FileStore(tmp_path).save_sync(KEY, entry())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data
            assert b"refresh_token" not in data
            assert b"auth.test" not in data


def test_tampered_ciphertext_is_reported_once_and_treated_as_absent(
    tmp_path: Path, log_output: io.StringIO
) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry())
    path = store.path_for(KEY)
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    assert store.load_sync(KEY) is None
    assert store.load_sync(KEY) is None
    assert log_output.getvalue().count("oauth.store_entry_unreadable") == 1


def test_truncated_file_is_treated_as_absent(tmp_path: Path, log_output: io.StringIO) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry())
    path = store.path_for(KEY)
    path.write_bytes(path.read_bytes()[:20])
    assert store.load_sync(KEY) is None
    assert "oauth.store_entry_unreadable" in log_output.getvalue()


def test_entry_written_with_another_key_is_treated_as_absent(tmp_path: Path) -> None:
    FileStore(tmp_path).save_sync(KEY, entry())
    (tmp_path / "key.bin").write_bytes(os.urandom(32))
    assert FileStore(tmp_path).load_sync(KEY) is None


def test_entry_moved_to_another_identity_does_not_decrypt(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry())
    store.path_for(OTHER).write_bytes(store.path_for(KEY).read_bytes())
    assert store.load_sync(OTHER) is None


def test_damaged_key_file_is_replaced_and_old_entries_become_absent(tmp_path: Path) -> None:
    FileStore(tmp_path).save_sync(KEY, entry())
    (tmp_path / "key.bin").write_bytes(b"short")
    store = FileStore(tmp_path)
    assert store.load_sync(KEY) is None
    assert len((tmp_path / "key.bin").read_bytes()) == 32
    store.save_sync(KEY, entry("new"))
    assert FileStore(tmp_path).load_sync(KEY) == entry("new")


@posix_only
def test_directory_is_0700_and_files_are_0600(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    FileStore(directory).save_sync(KEY, entry())
    assert directory.stat().st_mode & 0o777 == 0o700
    files = list(directory.iterdir())
    assert len(files) == 2
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)


@posix_only
def test_an_existing_open_directory_is_tightened_to_0700(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o755)
    FileStore(directory).save_sync(KEY, entry())
    assert directory.stat().st_mode & 0o777 == 0o700


def test_crash_between_write_and_rename_leaves_the_old_entry_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry("old"))

    def crash(src: str, dst: str) -> None:
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(StoreError):
        store.save_sync(KEY, entry("new"))
    monkeypatch.undo()
    assert FileStore(tmp_path).load_sync(KEY) == entry("old")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["key.bin", store.path_for(KEY).name]
    )


def test_a_leftover_temporary_file_does_not_disturb_reads_or_writes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_sync(KEY, entry("old"))
    (tmp_path / ".entry-crashed.tmp").write_bytes(b"half a write")
    assert store.load_sync(KEY) == entry("old")
    store.save_sync(KEY, entry("new"))
    assert store.load_sync(KEY) == entry("new")


def test_unwritable_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="OAUTH2_TOKEN_CACHE_DIR"):
        FileStore(blocker / "cache").save_sync(KEY, entry())


def test_default_directory_is_the_per_user_config_dir() -> None:
    assert default_store_dir().name == "mcp-oauth2-proxy"


def test_file_names_reveal_nothing_about_the_identity() -> None:
    assert "auth" not in KEY.file_stem()
    assert KEY.file_stem() != OTHER.file_stem()


@pytest.mark.anyio
async def test_memory_store_round_trips_copies() -> None:
    store = MemoryStore()
    original = entry()
    await store.save(KEY, original)
    original["refresh_token"] = "mutated"
    assert await store.load(KEY) == entry()
    await store.delete(KEY)
    assert await store.load(KEY) is None


@pytest.mark.anyio
async def test_file_store_async_api_round_trips(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    await store.save(KEY, entry())
    assert await store.load(KEY) == entry()
    await store.delete(KEY)
    assert await store.load(KEY) is None
