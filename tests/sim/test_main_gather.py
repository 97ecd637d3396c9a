"""``training.loader.gather: main``: the training process gathers its rows itself."""

from __future__ import annotations

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.pipeline import simulate

SCENARIO = {"graph": {"source": "sbm", "num_nodes": 6000, "feature_dim": 256},
            "partition": {"method": "random"},
            "training": {"mode": "single-node-multigpu", "batch_size": 256, "fanouts": [10, 5],
                         "loader": {"workers": 4}, "prefetch_depth": 8},
            "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 1},
            "simulation": {"iterations": 6}}


def _run(gather: str):
    data = {**SCENARIO, "training": {**SCENARIO["training"], "loader": {"workers": 4, "gather": gather}}}
    return simulate(scenario_from_dict(data), sensitivity=False)


def test_a_main_process_gather_is_serial_with_compute_and_not_shared_by_workers():
    pool, main = _run("workers"), _run("main")
    b_pool, b_main = pool.analysis.breakdown, main.analysis.breakdown
    # one process gathers what four workers shared: the same rows at a quarter of the rate
    assert b_main["fetch"]["time_s"] == pytest.approx(4 * b_pool["fetch"]["time_s"], rel=0.05)
    # and nothing hides it: every iteration pays gather, copy and the model step in turn
    serial = sum(b_main[s]["time_s"] for s in ("fetch", "h2d", "forward", "backward", "optimizer"))
    assert main.analysis.iteration_time_s >= 0.999 * serial
    assert pool.analysis.iteration_time_s < serial
    spans = [s for s in main.timeline.spans if s.stage == "fetch"]
    assert spans and all("/loader" in s.resource for s in spans)


def test_the_default_gather_stays_out_of_the_echo():
    assert "gather" not in _run("workers").to_dict()["scenario"]["training"]["loader"]
    assert _run("main").to_dict()["scenario"]["training"]["loader"]["gather"] == "main"
