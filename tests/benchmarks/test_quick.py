import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_against_the_direct_baseline_reports_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "benchmarks", "--quick", "--bridges", "direct", "--out", tmp_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    plan = doc["plan"]
    assert doc["quick"] is True
    assert set(doc["modes"]) == {"json", "sse"}
    for mode in doc["modes"].values():
        direct = mode["bridges"]["direct"]
        assert direct["status"] == "ok"
        assert len(direct["cold_start"]["samples_ms"]) == plan["cold_launches"]
        # Echo and pipelined ran once per pass, in fresh sessions, and were pooled.
        passes = plan["session_passes"]
        assert passes == 2
        assert direct["echo"]["n"] == passes * plan["echo_calls"]
        assert len(direct["echo"]["passes_p50_ms"]) == passes
        assert direct["echo"]["p50_ms"] <= direct["echo"]["p99_ms"]
        assert direct["pipelined"]["ok"] == passes * plan["pipelined_calls"]
        assert len(direct["pipelined"]["passes_msgs_per_s"]) == passes
        assert direct["head_of_line"]["echoes"] == plan["hol_echoes"]
        assert [b["bytes"] for b in direct["blobs"]] == plan["blob_sizes"]
        assert all(len(b["samples_ms"]) == plan["blob_repeats"] for b in direct["blobs"])
        if sys.platform.startswith("linux"):  # the client's CPU time per call
            assert all(len(b["cpu_samples_ms"]) == plan["blob_repeats"] for b in direct["blobs"])
            assert all(b["cpu_median_ms"] > 0 for b in direct["blobs"])
        assert {t["target"] for t in mode["targets"]} >= {"idle RSS ≤ 50 MiB"}
    assert "### JSON responses" in done.stdout
    assert "### SSE responses" in done.stdout
    assert "| echo p50 | ms |" in done.stdout
