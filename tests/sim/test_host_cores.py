"""A GPU node's cores shared by its trainers' worker pools (max-min, not a static split)."""

import pytest

import gnnsim.sim.engine as engine
from gnnsim.config import scenario_from_dict
from gnnsim.pipeline import simulate
from gnnsim.sim.loader import handoff_s

BASE = {"graph": {"source": "chung-lu", "num_nodes": 6000, "avg_degree": 10, "exponent": 2.3, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 256, "fanouts": [10, 5], "prefetch_depth": 7,
                     "loader": {"workers": 8}, "features": {"placement": "gpu"}},
        "simulation": {"iterations": 4}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}


def run(static=False, monkeypatch=None, **training):
    if static:  # the old static share: cores / trainers per pool, no channel
        monkeypatch.setattr(engine, "with_host_cores", lambda topo, cluster, t: (topo, []))
    s = scenario_from_dict({**BASE, "training": {**BASE["training"], **training}})
    return simulate(s, sensitivity=False)


def test_uncontended_pools_run_as_the_static_share(monkeypatch):
    dynamic = run()  # 2 trainers x 8 workers on 128 cores: nobody waits for a core
    static = run(True, monkeypatch)
    assert dynamic.analysis.iteration_times_s == static.analysis.iteration_times_s
    assert "node0/cores" in dynamic.timeline.channels and "node0/cores" not in static.timeline.channels


def test_the_cores_channel_carries_every_core_second_by_hand():
    result = run(loader={"workers": 100}, prefetch_depth=99)
    cost, w = result.cost, result.workload
    samples = [t for it in w.tasks for chain in it for t in chain if t.stage == "sample"]
    # each batch: its one-core sampling time and its hand-off to the trainer (the A100 node's
    # jitter is 0), whatever the sharing
    expected = sum(cost.sample_time(t) + handoff_s(cost, t) for t in samples)
    assert result.timeline.channels["node0/cores"]["bytes"] == pytest.approx(expected)
    assert result.timeline.channels["node0/cores"]["capacity_bytes_per_s"] == 128


def test_a_pool_takes_the_cores_the_others_leave(monkeypatch):
    # 2 trainers x 100 workers on 128 cores: the static split gives each 64 for good; shared,
    # the trainer whose batches are done leaves its cores to the other (up to its 100 workers)
    dynamic = run(loader={"workers": 100}, prefetch_depth=99)
    static = run(True, monkeypatch, loader={"workers": 100}, prefetch_depth=99)

    def sampling_done(result):
        return max(sp.end_s for sp in result.timeline.spans if sp.stage == "sample")

    assert sampling_done(dynamic) < sampling_done(static)
    assert any(sp.via == "node0/cores" for sp in dynamic.timeline.spans if sp.stage == "sample")
