import hashlib
import os
import subprocess
import sys
import time

import pytest

from benchmarks import procs

linux_only = pytest.mark.skipif(not procs.HAS_PROC, reason="reads the Linux process CPU clock")


def _busy(seconds: float) -> None:
    until = time.process_time() + seconds
    digest = b""
    while time.process_time() < until:
        digest = hashlib.sha256(digest).digest()


@linux_only
def test_cpu_time_of_a_process_counts_what_it_spends() -> None:
    before, own_before = procs.cpu_ms(os.getpid()), time.process_time()
    _busy(0.05)
    after, own_after = procs.cpu_ms(os.getpid()), time.process_time()
    assert before is not None
    assert after is not None
    assert after - before == pytest.approx((own_after - own_before) * 1000, abs=5)


@linux_only
def test_cpu_time_of_an_exited_process_is_unknown() -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert procs.cpu_ms(int(child.stdout)) is None


def test_the_timer_keeps_one_sample_per_block_and_none_for_a_failed_one() -> None:
    readings = iter([10.0, 12.5, 20.0, 27.0, 30.0, 31.0])
    timer = procs.CpuTimer(pid=1, read=lambda _pid: next(readings))
    with timer:
        pass
    with timer:
        pass
    with pytest.raises(RuntimeError), timer:
        raise RuntimeError
    assert timer.samples_ms == [2.5, 7.0]
    assert timer.summary() == {"cpu_median_ms": 4.75, "cpu_samples_ms": [2.5, 7.0]}
    assert procs.CpuTimer(pid=None).summary() == {}
