"""What each framework's layers compute (gnnsim.workload.frameworks), checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.workload.builder import build_workload, rank_minibatches, rank_seeds
from gnnsim.workload.frameworks import layer_shapes, pyg_minibatch
from gnnsim.workload.models import get_model
from gnnsim.workload.sampler import full_minibatch, induced_minibatch, sample_minibatch, sampling_work

# 0 <- {1, 2}; 1 <- {3}; 2 <- {3, 4}; 3, 4 have no in-neighbours
INDPTR = np.array([0, 2, 3, 5, 5, 5])
INDICES = np.array([1, 2, 3, 3, 4])


def _two_hop():
    """Seed 0, every neighbour, two hops. Hop 1 samples 0's two edges (nodes 0, 1, 2);
    hop 2 samples again from 0, 1 and 2 (2 + 1 + 2 = 5 edges; nodes 0..4)."""
    return full_minibatch(INDPTR, INDICES, np.array([0]), 2)


def test_blocks_for_torch_and_dgl():
    mb = _two_hop()
    assert layer_shapes(mb, "torch") == [(5, 3, 5), (3, 1, 2)]
    assert layer_shapes(mb, "dgl") == layer_shapes(mb, "torch")


def test_pyg_untrimmed_layers_compute_the_whole_sampled_subgraph():
    mb = _two_hop()
    # all 5 sampled nodes and the 2 + 5 edges of both hops, in both layers
    assert layer_shapes(mb, "pyg") == [(5, 5, 7), (5, 5, 7)]
    kernels = {k.name: k for k in get_model("graphsage").forward_kernels(layer_shapes(mb, "pyg"), [(8, 4), (4, 2)])}
    # layer 0's GEMM rows are the total sampled nodes (flops = 2 m k n), its aggregation every edge
    assert kernels["L0.lin_neigh"].flops == 2 * 5 * 8 * 4
    assert kernels["L0.aggregate"].items == 7
    # the output layer projects all 5 rows too, though only the seed's is kept
    assert kernels["L1.lin_root"].flops == 2 * 5 * 4 * 2


def test_pyg_trim_to_layer_drops_the_last_hops():
    mb = _two_hop()
    # layer 0: everything; layer 1: nodes within one hop (0, 1, 2) and hop 1's 2 edges
    assert layer_shapes(mb, "pyg", trim_to_layer=True) == [(5, 5, 7), (3, 3, 2)]


def test_three_hops_trimmed_by_hand():
    # a path 0 <- 1 <- 2 <- 3: one node and one edge per hop, but hop h re-samples
    # every node reached so far (blocks): hop edges 1, 2, 3
    indptr, indices = np.array([0, 1, 2, 3, 3]), np.array([1, 2, 3])
    mb = full_minibatch(indptr, indices, np.array([0]), 3)
    assert layer_shapes(mb, "torch") == [(4, 3, 3), (3, 2, 2), (2, 1, 1)]
    assert layer_shapes(mb, "pyg") == [(4, 4, 6)] * 3
    assert layer_shapes(mb, "pyg", trim_to_layer=True) == [(4, 4, 6), (3, 3, 3), (2, 2, 1)]


def test_pyg_sampling_expands_only_the_new_nodes():
    mb = pyg_minibatch(INDPTR, INDICES, np.array([0]), [None, None], np.random.default_rng(0))
    # hop 2 expands 1 and 2 only (not the seed again): 1 + 2 edges; the same 5 nodes
    assert layer_shapes(mb, "torch") == [(5, 3, 3), (3, 1, 2)]
    assert layer_shapes(mb, "pyg") == [(5, 5, 5), (5, 5, 5)]
    assert layer_shapes(mb, "pyg", trim_to_layer=True) == [(5, 5, 5), (3, 3, 2)]
    assert mb.num_sampled_nodes == 3  # 0, then 1 and 2, each expanded once


def test_pyg_sampling_work_counts_each_expanded_node_once():
    # a star: 0 <- 1..6, and each of 1..6 <- 0 and two leaves; fan-outs [2, 2]
    src = [1, 2, 3, 4, 5, 6] + [0, 7, 8] * 6
    indptr = np.concatenate([[0, 6], 6 + 3 * np.arange(1, 7), np.full(2, 24)])
    rng = np.random.default_rng(0)
    pyg = pyg_minibatch(indptr, np.array(src), np.array([0]), [2, 2], rng)
    dgl = sample_minibatch(indptr, np.array(src), np.array([0]), [2, 2], np.random.default_rng(0))
    # hop 1: node 0 (degree 6 > 2); hop 2: PyG expands the 2 new nodes (degree 3 > 2), DGL those and 0 again
    assert sampling_work(indptr, pyg, [2, 2])[2] == (1 + 2) * 2 * 1 / 2
    assert sampling_work(indptr, dgl, [2, 2])[2] == (1 + 3) * 2 * 1 / 2
    assert pyg.num_sampled_edges == 2 + 2 * 2 and dgl.num_sampled_edges == 2 + 3 * 2


def test_a_cluster_gcn_batch_is_the_same_subgraph_in_every_framework():
    mb = induced_minibatch(INDPTR, INDICES, np.array([0, 1, 2]), np.array([0]), 2)
    # inside {0, 1, 2} only 0 <- 1 and 0 <- 2 remain
    assert layer_shapes(mb, "pyg") == layer_shapes(mb, "torch") == [(3, 3, 2)] * 2


SMALL = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6},
         "training": {"batch_size": 32, "fanouts": [4, 3]}, "simulation": {"iterations": 2}}


def _workload(training, **sections):
    s = scenario_from_dict({**SMALL, "training": {**SMALL["training"], **training}, **sections})
    g = build_graph(s)
    c = cluster_for(s)
    p = partition_graph(g, s.partition.method, c.num_trainers, seed=0)
    return s, g, c, p, build_workload(s, g, p, c)


def test_the_workload_prices_pyg_layers_on_every_sampled_node():
    s, g, c, p, w = _workload({"framework": "pyg"})
    seeds = rank_seeds(g, p, c.num_trainers)
    mb = rank_minibatches(g, seeds[0], 0, s, 1, w.iterations_per_epoch)[0]
    forward = next(t for t in w.tasks[0][0] if t.stage == "forward")
    lin = next(k for k in forward.kernels if k.name == "L0.lin_neigh")
    i, o = g.feature_dim, s.model.hidden_dim
    assert lin.flops == 2 * mb.input_nodes.size * i * o
    agg = next(k for k in forward.kernels if k.name == "L1.aggregate")
    assert agg.items == mb.num_sampled_edges
    # torch: the same batch's blocks, as before
    *_, plain = _workload({})
    lin_t = next(k for k in next(t for t in plain.tasks[0][0] if t.stage == "forward").kernels if k.name == "L0.lin_neigh")
    assert lin_t.flops == 2 * mb.blocks[0].num_dst * i * o


def test_pyg_trim_to_layer_needs_pyg_and_stays_out_of_the_echo_when_unset():
    with pytest.raises(ScenarioError, match="pyg_trim_to_layer"):
        scenario_from_dict({"training": {"pyg_trim_to_layer": True}})
    assert "pyg_trim_to_layer" not in scenario_from_dict({}).model_dump()["training"]
    on = scenario_from_dict({"training": {"framework": "pyg", "pyg_trim_to_layer": True}})
    assert on.model_dump()["training"]["pyg_trim_to_layer"] is True


def test_pyg_legacy_neighbor_sampler_samples_and_computes_as_blocks():
    from gnnsim.config import scenario_from_dict
    from gnnsim.errors import ScenarioError
    from gnnsim.pipeline import simulate

    base = {"graph": {"source": "sbm", "num_nodes": 3000}, "partition": {"method": "random"},
            "training": {"mode": "single-node-multigpu", "batch_size": 128, "fanouts": [10, 5]},
            "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 1}, "simulation": {"iterations": 2}}

    def run(**training):
        return simulate(scenario_from_dict({**base, "training": {**base["training"], **training}}), sensitivity=False)

    legacy, dgl = run(framework="pyg", pyg_loader="neighbor_sampler"), run(framework="dgl")
    # the same hops (every reached node sampled again) and the same blocks as DGL's
    assert legacy.workload.batch_stats["input_nodes_mean"] == dgl.workload.batch_stats["input_nodes_mean"]
    fwd = lambda r: [k.flops for k in r.workload.tasks[0][0][-4].kernels]  # noqa: E731
    assert fwd(legacy) == fwd(dgl)
    assert legacy.to_dict()["scenario"]["training"]["pyg_loader"] == "neighbor_sampler"
    assert "pyg_loader" not in run(framework="pyg").to_dict()["scenario"]["training"]
    with pytest.raises(ScenarioError, match="training.pyg_loader"):
        scenario_from_dict({**base, "training": {**base["training"], "pyg_loader": "neighbor_sampler"}})


def test_pygs_gcn_projects_first_so_its_input_layer_backpropagates_through_the_aggregation():
    # GCNConv runs lin before propagate at any widths; DGL's order (gnnsim's own) aggregates
    # the 16-wide input before its 16 -> 32 projection, so its input layer needs no aggregation gradient
    def backward(framework):
        *_, w = _workload({"framework": framework}, model={"name": "gcn", "hidden_dim": 32},
                          graph={**SMALL["graph"], "feature_dim": 16})
        return [k.name for k in next(t for t in w.tasks[0][0] if t.stage == "backward").kernels]

    assert "L0.aggregate_grad" in backward("pyg") and "L0.lin.dW" in backward("pyg")
    assert "L0.aggregate_grad" not in backward("torch")
