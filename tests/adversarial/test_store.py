"""The encrypted token store against tampering, planted files, crashes and a sulking keychain."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mcp_oauth2_proxy.auth.keychain import KeychainKey
from mcp_oauth2_proxy.auth.store import (
    KEY_FILE,
    MAGIC,
    NONCE_BYTES,
    STALE_TEMP_SECONDS,
    FileStore,
    StoreKey,
    private_directory_problem,
    seal,
    unseal,
)
from mcp_oauth2_proxy.errors import StoreError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX files and signals")
ALICE = StoreKey("https://auth.test", "client", "https://mcp.test/a")
BOB = StoreKey("https://auth.test", "client", "https://mcp.test/b")
SECRET = "rt-alice-secret-refresh-token"


def saved(tmp_path: Path) -> tuple[FileStore, Path]:
    store = FileStore(tmp_path)
    store.save_sync(ALICE, {"refresh_token": SECRET})
    return store, store.path_for(ALICE)


@pytest.mark.parametrize("where", ["magic", "nonce", "ciphertext", "tag", "every"])
def test_a_flipped_bit_anywhere_makes_the_entry_absent_and_is_reported_once(
    tmp_path: Path, where: str, log_stream: io.StringIO
) -> None:
    store, path = saved(tmp_path)
    blob = bytearray(path.read_bytes())
    positions = {
        "magic": [0],
        "nonce": [len(MAGIC) + 3],
        "ciphertext": [len(MAGIC) + NONCE_BYTES + 2],
        "tag": [len(blob) - 1],
        "every": range(len(blob)),
    }[where]
    for position in positions:
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        assert FileStore(tmp_path).load_sync(ALICE) is None
        assert store.load_sync(ALICE) is None
    # Each new store reports once; the long-lived one reported only the first time.
    assert log_stream.getvalue().count("oauth.store_entry_unreadable") == len(positions) + 1


def test_every_truncation_makes_the_entry_absent(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    blob = path.read_bytes()
    for length in range(len(blob)):
        path.write_bytes(blob[:length])
        assert FileStore(tmp_path).load_sync(ALICE) is None


def test_entries_swapped_between_identities_open_for_neither(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save_sync(ALICE, {"refresh_token": SECRET})
    store.save_sync(BOB, {"refresh_token": "rt-bob"})
    a, b = store.path_for(ALICE), store.path_for(BOB)
    a_blob, b_blob = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_blob)
    b.write_bytes(a_blob)
    assert store.load_sync(ALICE) is None
    assert store.load_sync(BOB) is None


@posix_only
@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory", "elsewhere"])
def test_a_planted_link_or_special_file_at_the_entry_is_never_followed(
    tmp_path: Path, target: str
) -> None:
    store, path = saved(tmp_path)
    path.unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    if target == "fifo":
        os.mkfifo(path)
    elif target == "directory":
        path.mkdir()
    elif target == "elsewhere":
        outside.write_bytes(b"attacker data")
        path.symlink_to(outside)
    else:
        path.symlink_to(target)
    started = time.monotonic()
    assert store.load_sync(ALICE) is None
    assert time.monotonic() - started < 2
    if target in ("/dev/zero", "elsewhere"):
        store.save_sync(ALICE, {"refresh_token": "rt-new"})
        assert not path.is_symlink()
        assert store.load_sync(ALICE) == {"refresh_token": "rt-new"}
        if target == "elsewhere":
            assert outside.read_bytes() == b"attacker data"


@posix_only
def test_a_planted_link_at_the_key_file_is_refused_not_followed(tmp_path: Path) -> None:
    planted = tmp_path.parent / f"{tmp_path.name}-attacker-key"
    planted.write_bytes(b"k" * 32)
    (tmp_path / KEY_FILE).symlink_to(planted)
    with pytest.raises(StoreError, match="key"):
        FileStore(tmp_path).save_sync(ALICE, {"refresh_token": SECRET})
    assert not FileStore(tmp_path).path_for(ALICE).exists()


@posix_only
def test_a_key_file_readable_by_others_is_tightened_to_0600(tmp_path: Path) -> None:
    saved(tmp_path)
    key = tmp_path / KEY_FILE
    key.chmod(0o644)
    assert FileStore(tmp_path).load_sync(ALICE) == {"refresh_token": SECRET}
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@posix_only
def test_a_group_or_world_open_cache_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    FileStore(directory).save_sync(ALICE, {"refresh_token": SECRET})
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@posix_only
def test_a_cache_directory_that_is_not_ours_or_stays_open_is_refused() -> None:
    def info(mode: int, uid: int) -> os.stat_result:
        return os.stat_result((mode, 0, 0, 0, uid, 0, 0, 0, 0, 0))

    me = os.geteuid()
    assert private_directory_problem(info(stat.S_IFDIR | 0o700, me), me) is None
    assert "another user" in (
        private_directory_problem(info(stat.S_IFDIR | 0o700, me + 1), me) or ""
    )
    assert "other users" in (private_directory_problem(info(stat.S_IFDIR | 0o770, me), me) or "")
    assert "not a directory" in (
        private_directory_problem(info(stat.S_IFREG | 0o700, me), me) or ""
    )


@posix_only
def test_sigkill_between_write_and_rename_keeps_the_old_entry_and_the_leftover_is_swept(
    tmp_path: Path,
) -> None:
    store, _ = saved(tmp_path)
    script = (
        "import os, signal, sys\n"
        "from mcp_oauth2_proxy.auth import store as s\n"
        "s.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "k = s.StoreKey('https://auth.test', 'client', 'https://mcp.test/a')\n"
        "s.FileStore(sys.argv[1]).save_sync(k, {'refresh_token': 'rt-new'})\n"
    )
    proc = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    assert len(leftovers) == 1
    assert store.load_sync(ALICE) == {"refresh_token": SECRET}
    old = time.time() - STALE_TEMP_SECONDS - 5
    os.utime(leftovers[0], (old, old))
    store.save_sync(ALICE, {"refresh_token": "rt-next"})
    assert [p for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    assert store.load_sync(ALICE) == {"refresh_token": "rt-next"}


def test_a_fresh_temporary_file_of_a_concurrent_writer_is_left_alone(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    busy = tmp_path / f".{path.stem}-inflight.tmp"
    busy.write_bytes(b"another process is writing")
    store.save_sync(ALICE, {"refresh_token": "rt-next"})
    assert busy.exists()


def test_ten_thousand_encryptions_use_ten_thousand_nonces() -> None:
    key = os.urandom(32)
    blobs = [seal(key, ALICE, {"refresh_token": SECRET}) for _ in range(10_000)]
    nonces = {b[len(MAGIC) : len(MAGIC) + NONCE_BYTES] for b in blobs}
    assert len(nonces) == 10_000
    assert all(unseal(key, ALICE, b) == {"refresh_token": SECRET} for b in blobs[:100])
    assert all(SECRET.encode() not in b for b in blobs)


class HangingKeyring:
    def __init__(self) -> None:
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:  # noqa: ARG002
        self.release.wait(10)
        return None


class BrokenKeyring:
    def get_password(self, service: str, username: str) -> str | None:  # noqa: ARG002
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")


class DamagedKeyring:
    def get_password(self, service: str, username: str) -> str | None:  # noqa: ARG002
        return "not base64 !!"


@pytest.mark.parametrize("backend", [HangingKeyring, BrokenKeyring, DamagedKeyring])
def test_an_unusable_keychain_falls_back_to_the_key_file_within_its_timeout(
    tmp_path: Path, backend: type, log_stream: io.StringIO
) -> None:
    ring = backend()
    store = FileStore(tmp_path, key_source=KeychainKey(backend=lambda: ring, timeout=0.3))
    started = time.monotonic()
    store.save_sync(ALICE, {"refresh_token": SECRET})
    assert time.monotonic() - started < 3
    if isinstance(ring, HangingKeyring):
        ring.release.set()
    assert (tmp_path / KEY_FILE).exists()
    assert FileStore(tmp_path).load_sync(ALICE) == {"refresh_token": SECRET}
    assert "oauth.keychain_unavailable" in log_stream.getvalue()
    assert SECRET not in log_stream.getvalue()


def test_a_required_keychain_that_hangs_is_an_error_not_a_plaintext_fallback(
    tmp_path: Path,
) -> None:
    ring = HangingKeyring()
    store = FileStore(
        tmp_path, key_source=KeychainKey(backend=lambda: ring, timeout=0.3, required=True)
    )
    with pytest.raises(StoreError, match="keyring"):
        store.save_sync(ALICE, {"refresh_token": SECRET})
    ring.release.set()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()
