"""``training.loader.gather: main | prefetch``: the training process gathers its rows
itself, with torch's ``index_select`` on its intra-op threads."""

from __future__ import annotations

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.pipeline import simulate
from gnnsim.workload.loader import gather_chunks

SCENARIO = {"graph": {"source": "sbm", "num_nodes": 6000, "feature_dim": 4096},
            "partition": {"method": "random"},
            "training": {"mode": "single-node-multigpu", "batch_size": 256, "fanouts": [10, 5],
                         "loader": {"workers": 4}, "prefetch_depth": 8},
            "cluster": {"profile": "pcie3-gpu-workstation-1", "trainers_per_node": 1},
            "simulation": {"iterations": 6}}


def _run(gather: str, feature_dim: int = 4096, profile: str = "pcie3-gpu-workstation-1"):
    data = {**SCENARIO, "graph": {**SCENARIO["graph"], "feature_dim": feature_dim},
            "training": {**SCENARIO["training"], "loader": {"workers": 4, "gather": gather}},
            "cluster": {"profile": profile, "trainers_per_node": 1}}
    return simulate(scenario_from_dict(data), sensitivity=False)


def test_the_training_process_gathers_on_one_thread_per_core_and_serially_with_compute():
    pool, main = _run("workers"), _run("main")
    b_pool, b_main = pool.analysis.breakdown, main.analysis.breakdown
    # 16 torch threads (the workstation's cores; thousands of chunks per batch) against the
    # pool's 4 one-thread workers: the same rows at 4x the rate (sampling takes a little)
    assert b_main["fetch"]["time_s"] == pytest.approx(b_pool["fetch"]["time_s"] / 4, rel=0.03)
    # and nothing hides it: every iteration pays gather, copy and the model step in turn
    serial = sum(b_main[s]["time_s"] for s in ("fetch", "h2d", "forward", "backward", "optimizer"))
    assert main.analysis.iteration_time_s >= 0.999 * serial
    spans = [s for s in main.timeline.spans if s.stage == "fetch"]
    assert spans and all("/loader" in s.resource for s in spans)


def test_a_prefetch_thread_gathers_as_fast_but_ahead_of_training():
    main, prefetch = _run("main"), _run("prefetch")
    assert prefetch.analysis.breakdown["fetch"]["time_s"] == pytest.approx(
        main.analysis.breakdown["fetch"]["time_s"], rel=0.03)
    assert prefetch.analysis.iteration_time_s < 0.9 * main.analysis.iteration_time_s


def test_many_threads_gather_at_the_hosts_dram_bandwidth():
    # DGX A100: 128 threads would read and write rows at 128 x 17 GB/s; its DRAM gives 409.6 GB/s
    main = _run("main", feature_dim=512, profile="dgx-a100-80gb-1")
    spans = [s for s in main.timeline.spans if s.stage == "fetch"]
    assert spans and all(s.via == "node0/dram" for s in spans)
    for s in spans:  # rows read once and written once (outputs under 32 MiB: no first touch)
        assert s.end_s - s.start_s == pytest.approx(2 * s.bytes / 409.6e9, rel=0.01)


def test_chunks_follow_torchs_grain():
    # at::parallel_for with a grain of 32768 // 100 = 327 rows: a products batch of 400 k rows
    # splits in 1224 chunks, a batch of 300 rows is one
    assert gather_chunks(400_000, 100) == 1224 and gather_chunks(300, 100) == 1


def test_the_default_gather_stays_out_of_the_echo():
    assert "gather" not in _run("workers").to_dict()["scenario"]["training"]["loader"]
    assert _run("main").to_dict()["scenario"]["training"]["loader"]["gather"] == "main"
    assert _run("prefetch").to_dict()["scenario"]["training"]["loader"]["gather"] == "prefetch"
