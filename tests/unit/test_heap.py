from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable

import pytest

from mcp_oauth2_proxy.heap import (
    RETAIN_S,
    TRIM_AFTER_BYTES,
    GlibcHeap,
    HeapKeeper,
    SeenSink,
    seen_lines,
)

LARGE = TRIM_AFTER_BYTES


class FakePolicy:
    def __init__(self, *, holds: bool = True) -> None:
        self.holds = holds
        self.held = 0
        self.released = 0

    def hold(self) -> bool:
        self.held += 1
        return self.holds

    def release(self) -> None:
        self.released += 1


class FakeTimer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay = delay
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeSchedule:
    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.timers.append(timer)
        return timer

    @property
    def pending(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]


def keeper_with(
    policy: FakePolicy | None,
) -> tuple[HeapKeeper, FakeSchedule, list[int]]:
    schedule = FakeSchedule()
    loads: list[int] = []

    def load() -> FakePolicy | None:
        loads.append(1)
        return policy

    return HeapKeeper(load, schedule=schedule), schedule, loads


def test_memory_goes_back_retain_s_after_the_last_large_message() -> None:
    policy = FakePolicy()
    keeper, schedule, _ = keeper_with(policy)
    keeper.written(200)  # the reply to initialize: the allocator is switched, nothing to trim
    assert (policy.held, schedule.timers) == (1, [])
    keeper.written(LARGE)
    keeper.seen(LARGE * 10)
    [timer] = schedule.pending  # the second large message postponed the release
    assert (len(schedule.timers), timer.delay, policy.released) == (2, RETAIN_S, 0)
    keeper.seen(100)  # a small message does not postpone it
    assert schedule.pending == [timer]
    timer.callback()
    assert policy.released == 1
    keeper.seen(LARGE)
    assert len(schedule.pending) == 2  # the fired one is not cancelled; a new one waits


def test_nothing_is_loaded_before_the_first_message_is_written() -> None:
    keeper, schedule, loads = keeper_with(FakePolicy())
    keeper.seen(LARGE)  # a client's request, while it waits for the first reply
    assert (loads, schedule.timers) == ([], [])
    keeper.written(LARGE)
    keeper.written(LARGE)
    assert loads == [1]
    assert len(schedule.pending) == 1


@pytest.mark.parametrize("policy", [None, FakePolicy(holds=False)], ids=["no-glibc", "refused"])
def test_without_the_allocator_knobs_nothing_is_scheduled(policy: FakePolicy | None) -> None:
    keeper, schedule, _ = keeper_with(policy)
    keeper.written(LARGE)
    keeper.seen(LARGE)
    keeper.close()
    assert schedule.timers == []
    assert policy is None or policy.released == 0


def test_closing_gives_the_memory_back_at_once() -> None:
    policy = FakePolicy()
    keeper, schedule, _ = keeper_with(policy)
    keeper.written(LARGE)
    keeper.close()
    assert policy.released == 1
    assert schedule.pending == []
    keeper.written(LARGE)
    assert (policy.released, schedule.pending) == (1, [])


class RecordingSink:
    def __init__(self, schedule: FakeSchedule) -> None:
        self.schedule = schedule
        self.pending_when_sent: list[int] = []
        self.lines: list[bytes] = []

    async def send(self, line: bytes) -> None:
        self.lines.append(line)
        self.pending_when_sent.append(len(self.schedule.pending))


@pytest.mark.anyio
async def test_a_large_message_counts_once_it_is_written_or_handled() -> None:
    policy = FakePolicy()
    keeper, schedule, _ = keeper_with(policy)
    inner = RecordingSink(schedule)
    sink = SeenSink(inner, keeper)
    await sink.send(b"x" * LARGE)
    await sink.send(b"{}")
    # Nothing was kept while the first message was on its way; it counted once it was out.
    assert inner.pending_when_sent == [0, 1]
    assert inner.lines == [b"x" * LARGE, b"{}"]
    assert policy.held == 1

    async def source() -> AsyncIterator[bytes]:
        yield b"y" * LARGE
        yield b"{}"

    pending = []
    lines = []
    async for line in seen_lines(source(), keeper):
        lines.append(line)
        pending.append(len(schedule.timers))
    assert lines == [b"y" * LARGE, b"{}"]
    # The client's large line re-armed the release after the consumer was done with it.
    assert pending == [1, 2]
    assert len(schedule.timers) == 2


_ALLOCATOR_PROBE = textwrap.dedent(
    """
    import io, resource, sys
    from mcp_oauth2_proxy.heap import GlibcHeap

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def message():  # a 64 MB body, received the way the proxy receives one
        body = io.BytesIO()
        for _ in range(1024):
            body.write(bytes(65536))
        return body.getvalue()

    def rss_kib():
        with open("/proc/self/status") as status:
            return int(status.read().split("VmRSS:")[1].split()[0])

    policy = GlibcHeap.load()
    if len(sys.argv) > 1:
        assert policy is not None and policy.hold()
    message()
    before = faults()
    data = message()
    second = faults() - before
    del data
    held = rss_kib()
    if policy is not None:
        policy.release()
    print(second, held, rss_kib())
    """
)


def _probe(*args: str) -> tuple[int, int, int]:
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _ALLOCATOR_PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


@pytest.mark.skipif(GlibcHeap.load() is None, reason="the knobs exist in glibc only")
def test_with_glibc_a_second_large_message_reuses_memory_and_release_returns_it() -> None:
    fresh_faults, _, _ = _probe()
    reused_faults, held_kib, released_kib = _probe("hold")
    # 64 MB in fresh memory is ~16,400 faults of 4 KiB pages; reused memory needs almost none.
    assert fresh_faults > 10_000
    assert reused_faults < fresh_faults // 20
    assert held_kib - released_kib > 60_000  # the held 64 MB went back to the system
