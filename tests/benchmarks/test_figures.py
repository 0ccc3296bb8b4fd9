from benchmarks.figures import latency_ms, pass_orders, pool_passes, throughput


def one_pass(samples_ms: list[float], calls: int, ok: int, elapsed_s: float) -> dict[str, object]:
    return {"echo": latency_ms(samples_ms), "pipelined": throughput(calls, ok, elapsed_s)}


def test_later_passes_run_the_bridges_in_alternating_order() -> None:
    assert pass_orders(["direct", "proxy", "peer"], 3) == [
        ["direct", "proxy", "peer"],
        ["peer", "proxy", "direct"],
        ["direct", "proxy", "peer"],
    ]
    assert pass_orders(["direct", "proxy"], 1) == [["direct", "proxy"]]


def test_pooled_passes_give_percentiles_of_every_round_trip_and_the_overall_rate() -> None:
    fast = one_pass([1.0, 1.0, 2.0], calls=100, ok=100, elapsed_s=1.0)
    slow = one_pass([3.0, 4.0, 4.0], calls=100, ok=98, elapsed_s=3.0)
    slow["pipelined"]["first_error"] = "ReadError"  # type: ignore[index]
    pooled = pool_passes([fast, slow])
    echo, pipelined = pooled["echo"], pooled["pipelined"]
    assert (echo["n"], echo["p50_ms"], echo["p99_ms"]) == (6, 2.5, 4.0)
    assert echo["passes_p50_ms"] == [1.0, 4.0]
    # Every call over the time both passes took, not the mean of the two rates (125 msg/s).
    assert (pipelined["calls"], pipelined["ok"], pipelined["errors"]) == (200, 198, 2)
    assert pipelined["msgs_per_s"] == 198 / 4.0
    assert pipelined["passes_msgs_per_s"] == [100.0, 98 / 3.0]
    assert pipelined["first_error"] == "ReadError"
