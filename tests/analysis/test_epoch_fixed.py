"""Per-epoch fixed costs of a placed loader: worker start-up added once, the first batch reported."""

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.hardware.software import load_software
from gnnsim.pipeline import simulate
from gnnsim.report.table import result_table

BASE = {"graph": {"num_nodes": 3000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 64, "fanouts": [4, 3], "prefetch_depth": 2,
                     "loader": {"workers": 3}},
        "simulation": {"iterations": 3}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}


def run(**training):
    return simulate(scenario_from_dict({**BASE, "training": {**BASE["training"], **training}}), sensitivity=False)


def test_worker_start_comes_from_the_software_profile():
    # metatrain PR 1271: 4 workers forked per epoch cost 1.10 - 0.74 s = 90 ms each
    assert {load_software(f).worker_start_s for f in ("torch", "dgl", "pyg")} == {0.09}


def test_start_up_is_added_once_and_the_first_batch_reported():
    placed = run()
    persistent = run(loader={"workers": 3, "persistent_workers": True})
    fixed = placed.analysis.epoch_fixed
    assert fixed["loader_startup_s"] == pytest.approx(3 * 0.09)
    assert placed.analysis.epoch_time_s - persistent.analysis.epoch_time_s == pytest.approx(3 * 0.09)
    # the first batch: when the last trainer starts its first forward pass, by hand from the spans
    firsts = {}
    for span in placed.timeline.spans:
        if span.iteration == 0 and span.stage == "forward":
            firsts[span.rank] = min(firsts.get(span.rank, span.start_s), span.start_s)
    assert fixed["first_batch_s"] == max(firsts.values()) > 0
    assert fixed["total_s"] == pytest.approx(0.27 + fixed["first_batch_s"])
    data = placed.to_dict()
    assert data["epoch_fixed_s"] == fixed["total_s"] and data["epoch_fixed"] == fixed
    assert "fixed" in result_table(placed) and "loader start-up 270.000 ms" in result_table(placed)
    assert persistent.analysis.epoch_fixed["loader_startup_s"] == 0.0


def test_no_queue_no_first_batch_and_unplaced_loaders_report_nothing():
    assert run(prefetch_depth=0).analysis.epoch_fixed["first_batch_s"] == 0.0
    unplaced = {**BASE, "training": {k: v for k, v in BASE["training"].items() if k != "loader"}}
    result = simulate(scenario_from_dict(unplaced), sensitivity=False)
    assert result.analysis.epoch_fixed == {} and "epoch_fixed_s" not in result.to_dict()
    assert "\nfixed" not in result_table(result)


def test_gpu_sampling_without_workers_starts_none():
    result = run(loader={}, sampling={"device": "gpu"}, features={"placement": "uva"})
    assert result.analysis.epoch_fixed["loader_startup_s"] == 0.0
