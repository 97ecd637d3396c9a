"""LABOR sampling: each node keeps its k neighbours of smallest variate, shared by the hop."""

from __future__ import annotations

import numpy as np
import pytest

from gnnsim.config import Scenario
from gnnsim.graph.generators import chung_lu
from gnnsim.workload.labor import labor_minibatch, labor_neighbors, variates
from gnnsim.workload.sampler import sample_minibatch, sampling_work


@pytest.fixture(scope="module")
def graph():
    return chung_lu(3000, 20.0, seed=0)


def test_each_node_keeps_its_k_neighbours_of_smallest_variate(graph):
    nodes = np.arange(0, 3000, 7)
    owner, nbr, examined = labor_neighbors(graph.indptr, graph.indices, nodes, 5, salt=11)
    deg = np.diff(graph.indptr)[nodes]
    assert examined == int(deg[deg > 5].sum())
    assert np.array_equal(np.bincount(owner, minlength=nodes.size), np.minimum(deg, 5))
    for i in np.flatnonzero(deg > 5)[:50]:  # a loop over a few test nodes, checked by hand
        row = graph.indices[graph.indptr[nodes[i]]:graph.indptr[nodes[i] + 1]].astype(np.int64)
        want = np.sort(row[np.argsort(variates(row, 11))[:5]])
        assert np.array_equal(np.sort(nbr[owner == i]), want)


def test_shared_variates_reach_fewer_nodes_than_independent_draws(graph):
    rng = np.random.default_rng(0)
    seeds = rng.choice(3000, 64, replace=False)
    ns = sample_minibatch(graph.indptr, graph.indices, seeds, [10, 10], np.random.default_rng(1))
    labor = labor_minibatch(graph.indptr, graph.indices, seeds, [10, 10], np.random.default_rng(1))
    dep = labor_minibatch(graph.indptr, graph.indices, seeds, [10, 10], np.random.default_rng(1), layer_dependency=True)
    assert labor.blocks[-1].num_edges == ns.blocks[-1].num_edges  # the same count per node as the neighbour sampler
    assert dep.input_nodes.size < labor.input_nodes.size < ns.input_nodes.size
    hops, draws, checks = sampling_work(graph.indptr, labor, [10, 10])
    assert (hops, draws, checks) == (2, 0, float(labor.examined)) and labor.examined > 0


def test_labor_options_are_checked():
    base = {"graph": {"source": "sbm", "num_nodes": 500}}
    with pytest.raises(ValueError, match="labor_layer_dependency is LABOR"):
        Scenario.model_validate({**base, "training": {"labor_layer_dependency": True}})
    with pytest.raises(ValueError, match="without replacement"):
        Scenario.model_validate({**base, "training": {"sampler": "labor", "replace": True}})


def test_a_labor_scenario_simulates_with_fewer_inputs_and_prices_its_examined_reads():
    from gnnsim.cost.placement import ID_BYTES, gpu_sampling_work
    from gnnsim.pipeline import simulate

    assert gpu_sampling_work(10, 100, 2, examined=1000).structure_bytes == \
        gpu_sampling_work(10, 100, 2).structure_bytes + 1000 * ID_BYTES

    def run(sampler: str):
        return simulate(Scenario.model_validate({
            "graph": {"source": "chung-lu", "num_nodes": 20000, "avg_degree": 30, "feature_dim": 64},
            "training": {"mode": "single-node-multigpu", "sampler": sampler, "batch_size": 256, "fanouts": [10, 10],
                         "framework": "dgl", "sampling": {"device": "uva"}, "features": {"placement": "uva"}},
            "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 1},
            "simulation": {"iterations": 3, "seed": 0}}), sensitivity=False)
    labor, neighbor = run("labor"), run("neighbor")
    assert labor.workload.batch_stats["input_nodes_mean"] < neighbor.workload.batch_stats["input_nodes_mean"]
    assert labor.analysis.breakdown["sample"]["time_s"] > 0
