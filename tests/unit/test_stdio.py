from __future__ import annotations

import io
import itertools
import os
import socket
import sys
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_oauth2_proxy.stdio import (
    CHUNK_SIZE,
    STDOUT_PIPE_BYTES,
    LineSplitter,
    StdioReader,
    StdioWriter,
    grow_pipe,
)

pytestmark = pytest.mark.anyio


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=8), st.data())
def test_lines_are_split_identically_whatever_the_chunking(
    lines: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(line + b"\r\n" for line in lines)
    cuts = sorted(
        set(data.draw(st.lists(st.integers(0, len(stream)), max_size=6))) | {0, len(stream)}
    )
    splitter = LineSplitter()
    out = [line for a, b in itertools.pairwise(cuts) for line in splitter.feed(stream[a:b])]
    assert out + splitter.close() == lines


def test_an_unterminated_last_line_is_still_delivered() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.close() == [b'{"b"']


@pytest.mark.parametrize(
    "on_loop",
    [
        pytest.param(False, id="thread"),
        pytest.param(
            True,
            id="event-loop",
            marks=pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes only"),
        ),
    ],
)
async def test_the_reader_passes_a_50_mb_line_byte_for_byte(on_loop: bool) -> None:
    big = b'{"jsonrpc":"2.0","method":"x","params":{"p":"' + b"z" * 50_000_000 + b'"}}'
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(b"first\r\n" + big + b"\n\xff\xfe\nlast")

    writer = threading.Thread(target=feed)
    writer.start()
    threads_before = {t.name for t in threading.enumerate()}
    reader = StdioReader(fd=read_fd) if on_loop else StdioReader(lambda n: os.read(read_fd, n))
    lines = [line async for line in reader]
    started = {t.name for t in threading.enumerate()} - threads_before
    writer.join()
    os.close(read_fd)
    assert lines == [b"first", big, b"\xff\xfe", b"last"]
    if on_loop:  # a pipe is read on the event loop, without the reader thread
        assert "stdin-reader" not in started


@pytest.mark.skipif(sys.platform == "win32", reason="the event loop watches pipes on POSIX only")
async def test_reading_a_pipe_pauses_while_the_consumer_does_not_ask_for_more() -> None:
    import fcntl
    import termios

    read_fd, write_fd = os.pipe()
    grow_pipe(write_fd)
    line = b"x" * (CHUNK_SIZE - 1) + b"\n"
    os.write(write_fd, line * 12)  # 12 chunks' worth; the reader may take only a few ahead
    lines = StdioReader(fd=read_fd).__aiter__()
    assert await anext(lines) == line[:-1]
    for _ in range(20):  # give the loop every chance to read on
        await anyio.lowlevel.checkpoint()
    unread = int.from_bytes(fcntl.ioctl(read_fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)
    assert unread >= len(line) * 6
    os.close(write_fd)
    rest = [chunk async for chunk in lines]
    await lines.aclose()
    os.close(read_fd)
    assert rest == [line[:-1]] * 11


@pytest.mark.skipif(sys.platform == "win32", reason="the event loop watches sockets on POSIX only")
async def test_a_socket_as_stdin_is_read_too() -> None:
    # Node-based clients (libuv) hand their children a socket pair, not a pipe, as stdin.
    ours, theirs = socket.socketpair()
    theirs.sendall(b'{"a":1}\n{"b":2}')
    theirs.close()
    lines = [line async for line in StdioReader(fd=ours.fileno())]
    ours.close()
    assert lines == [b'{"a":1}', b'{"b":2}']


async def test_a_regular_file_is_read_from_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n')
    with path.open("rb", buffering=0) as file:
        lines = [line async for line in StdioReader(file.read, fd=file.fileno())]
    assert lines == [b'{"a":1}', b'{"b":2}']


async def test_the_writer_writes_each_message_as_one_flushed_line() -> None:
    out = io.BytesIO()
    writer = StdioWriter(out)
    await writer.send(b'{"a":1}')
    await writer.send(b'{"b":2}')
    assert out.getvalue() == b'{"a":1}\n{"b":2}\n'


async def test_a_closed_stdout_makes_the_writer_go_quiet_and_signal_shutdown() -> None:
    class Broken(io.BytesIO):
        def write(self, _b: object) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    closed = []
    writer = StdioWriter(Broken(), on_closed=lambda: closed.append(True))
    await writer.send(b"{}")
    await writer.send(b"{}")
    assert writer.closed
    assert closed == [True]


async def test_concurrent_messages_are_written_whole_in_the_order_they_were_sent() -> None:

    out = io.BytesIO()
    writer = StdioWriter(out)
    lines = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * (n * 1000)) for n in range(50)]
    async with anyio.create_task_group() as tg:
        for line in lines:
            tg.start_soon(writer.send, line)
    assert out.getvalue() == b"".join(line + b"\n" for line in lines)


def _fill(fd: int) -> int:
    """Fill the pipe behind ``fd`` until a write would block; return how much it took."""
    os.set_blocking(fd, False)
    filled = 0
    try:
        while True:
            filled += os.write(fd, b"f" * 65536)
    except BlockingIOError:
        return filled
    finally:
        os.set_blocking(fd, True)


def _read_exactly(fd: int, size: int) -> bytes:
    out = b""
    while len(out) < size:
        out += os.read(fd, size - len(out))
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="poll() on pipes is POSIX")
async def test_small_and_large_lines_reach_a_real_pipe_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    lines = [b'{"small":1}', b'{"large":"' + b"L" * 200_000 + b'"}', b'{"small":2}']
    with os.fdopen(write_fd, "wb") as stream:
        writer = StdioWriter(stream)
        reader = threading.Thread(target=lambda: received.append(_read_exactly(read_fd, total)))
        received: list[bytes] = []
        total = sum(len(line) + 1 for line in lines)
        reader.start()
        for line in lines:
            await writer.send(line)
        reader.join()
    os.close(read_fd)
    assert received == [b"".join(line + b"\n" for line in lines)]


@pytest.mark.skipif(sys.platform == "win32", reason="poll() on pipes is POSIX")
async def test_a_client_that_stops_reading_never_stalls_the_event_loop() -> None:
    read_fd, write_fd = os.pipe()
    filled = _fill(write_fd)
    loop_ran = threading.Event()
    ran_before_drain: list[bool] = []

    def client() -> None:
        # Reads only once the event loop has shown it still runs (or after 5 s, so that a
        # regression fails instead of hanging): a small write to a full pipe must not block it.
        ran_before_drain.append(loop_ran.wait(5))
        _read_exactly(read_fd, filled + len(b'{"small":1}\n'))

    with os.fdopen(write_fd, "wb") as stream:
        writer = StdioWriter(stream)
        reader = threading.Thread(target=client)
        reader.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.send, b'{"small":1}')
            await anyio.lowlevel.checkpoint()
            loop_ran.set()
        reader.join()
    os.close(read_fd)
    assert ran_before_drain == [True]
    assert not writer.closed


def test_only_a_pipe_with_room_is_ready_for_a_direct_write() -> None:
    assert StdioWriter(io.BytesIO())._ready() is False  # no file descriptor: always the thread
    if sys.platform == "win32":
        return
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as stream:
        writer = StdioWriter(stream)
        assert writer._ready() is True
        filled = _fill(write_fd)
        assert writer._ready() is False
        _read_exactly(read_fd, filled)
        assert writer._ready() is True
    os.close(read_fd)


def test_the_stdout_pipe_grows_to_one_mib_where_linux_allows_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    read_fd, write_fd = os.pipe()
    try:
        size = grow_pipe(write_fd)
        if sys.platform == "linux":
            assert size == STDOUT_PIPE_BYTES
            assert grow_pipe(write_fd, 4096) == STDOUT_PIPE_BYTES  # never shrunk
            os.write(write_fd, b"x" * 200_000)  # more than a default pipe holds, without blocking
            assert len(os.read(read_fd, 300_000)) == 200_000
        else:
            assert size is None
    finally:
        os.close(read_fd)
        os.close(write_fd)
    with (tmp_path / "out.txt").open("wb") as file:
        assert grow_pipe(file.fileno()) is None  # a regular file is left alone
