"""Process-tree memory readings from /proc and process CPU time (Linux); None elsewhere.

Launchers (``npx``, ``uvx``, a shell) start the real bridge as a child, so readings are taken from
the *bridge process*: the leaf of the tree under the spawned pid (the largest leaf if there are
several), never the launcher itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
HAS_PROC = sys.platform.startswith("linux") and PROC.is_dir()


@dataclass(frozen=True)
class MemoryReading:
    """Resident memory of one process, in MiB: now (VmRSS) and the high-water mark (VmHWM)."""

    pid: int
    name: str
    rss_mib: float
    hwm_mib: float


def children(pid: int) -> list[int]:
    """Direct children of pid (all threads' children lists, falling back to a /proc scan)."""
    found: list[int] = []
    task_dir = PROC / str(pid) / "task"
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        return _children_by_scan(pid)
    return found


def _children_by_scan(pid: int) -> list[int]:
    found: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces; ppid follows it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """Pid and all its descendants, parents first."""
    out = [pid]
    i = 0
    while i < len(out):
        out.extend(children(out[i]))
        i += 1
    return out


def read_memory(pid: int) -> MemoryReading | None:
    """VmRSS and VmHWM of one process, or None if it is gone or /proc is absent."""
    if not HAS_PROC:
        return None
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    if "VmRSS" not in fields:
        return None  # a zombie has no memory lines
    return MemoryReading(
        pid=pid,
        name=fields.get("Name", "?"),
        rss_mib=_kib(fields["VmRSS"]) / 1024,
        hwm_mib=_kib(fields["VmHWM"]) / 1024,
    )


def _kib(value: str) -> float:
    return float(value.split(maxsplit=1)[0])


def bridge_memory(root_pid: int) -> MemoryReading | None:
    """Memory of the real bridge process under root_pid: the leaf of its tree with the most RSS."""
    if not HAS_PROC:
        return None
    pids = tree(root_pid)
    leaves = [p for p in pids if not children(p)] or [root_pid]
    readings = [r for r in (read_memory(p) for p in leaves) if r is not None]
    if not readings:
        return None
    return max(readings, key=lambda r: r.rss_mib)


def cpu_ms(pid: int) -> float | None:
    """CPU time a process has used so far (all its threads, user and system), in ms; None: unknown.

    Read from the kernel's per-process CPU clock (what ``clock_getcpuclockid`` returns), which
    counts nanoseconds, unlike the 10 ms ticks of ``/proc/<pid>/stat``: a 1 MB call costs a
    bridge a few milliseconds. Page faults are system time, so they count too.
    """
    if not HAS_PROC:
        return None
    clock = ((~pid) << 3) | _CPUCLOCK_SCHED  # Linux's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    try:
        return time.clock_gettime_ns(clock) / 1e6
    except OSError:  # the process is gone
        return None


_CPUCLOCK_SCHED = 2


class CpuTimer:
    """Collects a process's CPU time over each ``with`` block (nothing where it cannot be read)."""

    def __init__(self, pid: int | None, read: Callable[[int], float | None] = cpu_ms) -> None:
        self._pid = pid
        self._read = read
        self._started: float | None = None
        self.samples_ms: list[float] = []

    def __enter__(self) -> None:
        self._started = None if self._pid is None else self._read(self._pid)

    def __exit__(self, *exc_info: object) -> None:
        ended = None if self._pid is None else self._read(self._pid)
        if self._started is not None and ended is not None and exc_info[0] is None:
            self.samples_ms.append(ended - self._started)

    def summary(self) -> dict[str, Any]:
        """The median and the samples, or nothing if none were taken."""
        if not self.samples_ms:
            return {}
        return {
            "cpu_median_ms": statistics.median(self.samples_ms),
            "cpu_samples_ms": self.samples_ms,
        }


def kill_group(pid: int) -> None:
    """SIGKILL whatever is left of a process group we started with start_new_session."""
    if os.name != "posix":
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
