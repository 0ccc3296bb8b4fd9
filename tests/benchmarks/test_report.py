from benchmarks.plan import MB
from benchmarks.report import check_targets, render_mode, render_targets


def _figures(cold: float, p50: float, rate: float, blob_ms: float, rss: float) -> dict:
    return {
        "status": "ok",
        "cold_start": {"median_ms": cold},
        "idle_rss_mib": rss,
        "echo": {"p50_ms": p50, "p99_ms": p50 * 2},
        "pipelined": {"msgs_per_s": rate, "errors": 0},
        "head_of_line": {
            "echoes_done_ms": 20.0,
            "sleep_done_ms": 1000.0,
            "echoes_before_sleep": True,
        },
        "blobs": [
            {"bytes": 4 * MB, "median_ms": blob_ms * 4, "peak_rss_mib": rss + 12},
            {"bytes": 10 * MB, "median_ms": blob_ms * 10, "peak_rss_mib": rss + 30},
        ],
    }


BRIDGES = {
    "direct": _figures(20, 1.0, 700, 7, 0),
    "proxy": _figures(300, 1.5, 690, 8, 40),
    "proxy-script": {"status": "ok", "cold_start": {"median_ms": 280.0}},
    "mcp-remote": _figures(400, 1.6, 700, 80, 90),
    "mcp-proxy": {"status": "skipped", "reason": "not installed (run benchmarks/setup_peers.sh)"},
}


def test_targets_compare_the_proxy_with_the_baseline_and_peers_of_the_same_run() -> None:
    checks = {c["target"]: c for c in check_targets(BRIDGES, [4 * MB, 10 * MB])}
    assert checks["cold start: script ≤ 0.7 x mcp-remote bin"]["limit"] == 0.7 * 400
    assert checks["cold start: script ≤ 0.7 x mcp-remote bin"]["passed"] is True
    assert checks["cold start: script ≤ 0.6 x mcp-proxy"]["passed"] is None
    assert checks["echo p50 ≤ direct + 1 ms"]["passed"] is True
    assert checks["pipelined ≥ 0.95 x best peer"]["limit"] == 0.95 * 700
    assert checks["blob 10 MB ≤ 1.3 x direct"]["passed"] is True
    assert checks["blob 10 MB peak RSS ≤ 60 MiB + 3 x size"]["limit"] == 90
    assert checks["idle RSS ≤ 50 MiB"]["passed"] is True


def test_report_shows_ratios_to_direct_and_to_each_peer_and_names_what_was_skipped() -> None:
    text = "\n".join(render_mode("json", BRIDGES, [4 * MB, 10 * MB]))
    assert "ratio to direct" in text
    assert "ratio to mcp-remote" in text
    assert "| echo p50 | 1.50x |" in text
    assert "mcp-proxy: not installed (run benchmarks/setup_peers.sh)" in text


def _blobs(key: str, ms: dict[int, float]) -> dict:
    return {
        "status": "ok",
        "blobs": [{"bytes": s * MB, "median_ms": 3 * t, key: t} for s, t in ms.items()],
    }


def _check(proxy: dict, target: str) -> dict:
    sizes = [1 * MB, 16 * MB, 64 * MB]
    return next(c for c in check_targets({"proxy": proxy}, sizes) if c["target"] == target)


def test_linear_growth_is_judged_on_the_cpu_time_the_proxy_spends_per_call() -> None:
    target = "blob cost linear: CPU ms/MB, 16 MB → 64 MB ≤ 1.25 x 1 MB → 16 MB"
    linear = _check(_blobs("cpu_median_ms", {1: 2, 16: 32, 64: 128}), target)  # 2 ms per MB
    assert linear["value"] == 2.0
    assert linear["limit"] == 1.25 * 2.0
    assert linear["passed"] is True
    assert _check(_blobs("cpu_median_ms", {1: 2, 16: 32, 64: 800}), target)["passed"] is False
    assert _check({"status": "ok", "blobs": []}, target)["passed"] is None


def test_the_time_added_to_plain_http_is_shown_beside_it_as_information() -> None:
    target = "(information) ms/MB added to plain HTTP, 16 MB → 64 MB ≤ 1.25 x 1 MB → 16 MB"
    check = _check(_blobs("added_median_ms", {1: 2, 16: 32, 64: 800}), target)
    assert check["value"] == 16.0
    assert check["info"] is True
    rendered = "\n".join(render_targets("json", [check]))
    assert "| information |" in rendered
    assert "FAIL" not in rendered
