"""Task builders for the training modes, samplers and caches, against brute force."""

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.workload.builder import (
    ID_BYTES, build_workload, fullbatch_halo_nodes, graph_clusters, halo_matrix, rank_minibatches, rank_seeds,
    remote_sampling, split_seeds,
)
from gnnsim.workload.cache import budget_rows
from gnnsim.workload.memory import memory_report

BASE = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16},
        "training": {"batch_size": 64, "fanouts": [4, 3]}, "simulation": {"iterations": 3},
        "cluster": {"profile": "a100-2x8-eth100", "trainers_per_node": 2}}  # 4 GPUs on 2 nodes


def setup(**training):
    data = {**BASE, "training": {**BASE["training"], **training}}
    s = scenario_from_dict(data)
    g, c = build_graph(s), cluster_for(s)
    p = partition_graph(g, s.partition.method, c.num_trainers, seed=0)
    return s, g, c, p, build_workload(s, g, p, c)


def stage(chain, name, kind=None):
    return [t for t in chain if t.stage == name and (kind is None or t.kind == kind)]


def test_rows_by_source_add_up_and_split_by_node():
    s, g, c, p, w = setup()
    seeds = rank_seeds(g, p, 4)
    for r in range(4):
        mbs = rank_minibatches(g, seeds[r], r, s, 3, w.iterations_per_epoch)
        for i, mb in enumerate(mbs):
            f = stage(w.tasks[i][r], "fetch")[0]
            owners = p.assignment[mb.input_nodes]
            same_node = owners // 2 == r // 2
            assert f.rows.local_rows == (owners == r).sum()
            assert f.rows.peer_rows == (same_node & (owners != r)).sum()
            assert f.rows.remote_rows == (~same_node).sum()
            assert f.rows.cached_rows == 0
            assert f.rows.local_rows + f.rows.peer_rows + f.rows.remote_rows == mb.input_nodes.size


def index_bytes(chain) -> int:
    """What a batch's copy to the GPU carries besides rows: each block's edge index pair
    and the seed ids, int64."""
    sample = stage(chain, "sample")[0]
    return 8 * (2 * sample.sampling.edges + sample.sampling.seeds)


@pytest.mark.parametrize("policy", ["degree", "presample"])
def test_cache_hits_conserve_rows_and_bytes(policy):
    s, g, c, p, w = setup(cache={"policy": policy, "budget_fraction": 0.1})
    row_bytes = 16 * 4
    _, _, _, _, plain = setup()
    for i in range(w.iterations):
        for r in range(4):
            f, f0 = stage(w.tasks[i][r], "fetch")[0], stage(plain.tasks[i][r], "fetch")[0]
            inputs = f0.rows.local_rows + f0.rows.peer_rows + f0.rows.remote_rows
            # the cache does not change the batches, only where rows come from
            assert f.rows.cached_rows + f.rows.local_rows + f.rows.peer_rows + f.rows.remote_rows == inputs
            assert stage(w.tasks[i][r], "h2d")[0].bytes == (inputs - f.rows.cached_rows) * row_bytes + index_bytes(w.tasks[i][r])
            assert f.bytes == (f.rows.peer_rows + f.rows.remote_rows) * row_bytes
            assert w.hit_rate[i][r] == pytest.approx(f.rows.cached_rows / inputs)
    assert w.batch_stats["cache_hit_rate_mean"] > 0.1  # hot nodes are hit more often than their share
    assert len(w.batch_stats["cache_hit_rate_per_iteration"]) == w.iterations
    assert w.memory["by_category"]["cached_features"] == budget_rows(s.training.cache, 2000, row_bytes) * row_bytes


def test_degree_cache_holds_the_highest_degree_nodes():
    from gnnsim.workload.cache import degree_cache

    deg = np.array([3, 9, 1, 9, 4, 0])
    cache = degree_cache(deg, 3, 8)
    # brute force: sort by (-degree, id)
    expected = sorted(range(6), key=lambda v: (-deg[v], v))[:3]
    assert np.flatnonzero(cache.mask).tolist() == sorted(expected) and cache.bytes == 24


def test_single_node_multigpu_reads_everything_from_host():
    s, g, c, p, w = setup(mode="single-node-multigpu")
    seeds = split_seeds(g, 4, 0)
    assert np.array_equal(np.sort(np.concatenate(seeds)), g.train_ids)
    for i in range(w.iterations):
        for r in range(4):
            f = stage(w.tasks[i][r], "fetch")[0]
            assert f.rows.rows_from[r] == f.rows.local_rows and sum(f.rows.rows_from) == f.rows.local_rows
            assert f.bytes == 0 and f.rows.peer_rows == f.rows.remote_rows == 0
            assert stage(w.tasks[i][r], "h2d")[0].bytes == f.rows.local_rows * 16 * 4 + index_bytes(w.tasks[i][r])


def test_remote_sampling_requests_brute_force():
    s, g, c, p, w = setup(graph_store="partitioned")
    seeds = rank_seeds(g, p, 4)
    for r in range(4):
        for i, mb in enumerate(rank_minibatches(g, seeds[r], r, s, 3, w.iterations_per_epoch)):
            nodes, edges = np.zeros(4, int), np.zeros(4, int)
            for b in mb.blocks:
                for d in range(b.num_dst):  # brute force: a loop over destinations
                    q = p.assignment[b.src_nodes[d]]
                    if q != r:
                        nodes[q] += 1
                        edges[q] += int((b.edge_dst == d).sum())
            got = remote_sampling(mb, p.assignment, r, 4)
            assert got[0].tolist() == nodes.tolist() and got[1].tolist() == edges.tolist()
            req = stage(w.tasks[i][r], "sample", "collective")[0]
            assert req.bytes == ID_BYTES * (nodes.sum() + 2 * edges.sum()) and req.rounds == 2


def test_halo_matrix_brute_force():
    s, g, c, p, _ = setup()
    a = p.assignment
    h = halo_matrix(g, a, 4)
    for r in range(4):
        halo = fullbatch_halo_nodes(g, a, r)
        for q in range(4):
            assert h[q, r] == (a[halo] == q).sum()
    assert np.all(np.diag(h) == 0)


def test_fullbatch_chain_conserves_halo_bytes():
    s, g, c, p, w = setup(mode="full-batch", fanouts=[5, 5, 5])
    assert w.iterations == w.iterations_per_epoch == 1
    chains = w.tasks[0]
    a = p.assignment
    h = halo_matrix(g, a, 4)
    for r, chain in enumerate(chains):
        halos = stage(chain, "halo")
        assert len(halos) == 2 * (3 - 1)  # forward and backward, every layer but the input one
        assert len(stage(chain, "forward")) == 3 and len(stage(chain, "backward")) == 3
        # autograd's order: each layer's backward, then its halo rows' gradients go home
        assert [t.stage for t in chain] == ["forward", "halo", "forward", "halo", "forward", "backward", "halo",
                                            "backward", "halo", "backward", "allreduce", "optimizer"]
        backs = stage(chain, "backward")
        assert backs[0].kernels[0].name == "loss" and {k.name[:2] for k in backs[0].kernels[1:]} == {"L2"}
        assert {k.name[:2] for k in backs[2].kernels} == {"L0"} and all(t.layers == 1 for t in backs)
        inner = (a == r).sum()
        fwd = stage(chain, "forward")[0].kernels
        agg = next(k for k in fwd if k.name == "L0.aggregate")
        assert agg.flops == np.diff(g.indptr)[a == r].sum() * 16  # every in-edge of the part, width 16
        assert w.memory["peak_bytes"][r] > 0
        assert sum(halos[0].rows.rows_from) == h[:, r].sum() and inner > 0
    # every byte sent is received: per exchange, total sent == total received
    for k in range(4):
        sent = sum(stage(ch, "halo")[k].bytes for ch in chains)
        received = sum(sum(stage(ch, "halo")[k].rows.rows_from) * stage(ch, "halo")[k].rows.row_bytes for ch in chains)
        assert sent == received


def test_cluster_gcn_batches_are_whole_clusters():
    s, g, c, p, w = setup(sampler="cluster-gcn", num_clusters=16, clusters_per_batch=2)
    clusters = graph_clusters(g, s, 4)
    assert sorted(np.concatenate(clusters.per_rank).tolist()) == list(range(16))
    assert w.iterations_per_epoch == 2  # 4 clusters per trainer, 2 per batch
    train = set(g.train_ids.tolist())
    for r in range(4):
        for i, mb in enumerate(rank_minibatches(g, None, r, s, 2, 2, clusters)):
            nodes = set(mb.input_nodes.tolist())
            member = [set(clusters.nodes(np.array([k])).tolist()) for k in clusters.per_rank[r]]
            assert sum(nodes == a | b for a in member for b in member if a is not b) >= 1
            assert set(mb.seeds.tolist()) == nodes & train
            assert stage(w.tasks[i][r], "sample")[0].sampling.edges == mb.blocks[0].num_edges


def test_replace_and_full_samplers_feed_the_builder():
    _, _, _, _, w = setup(replace=True)
    _, _, _, _, full = setup(sampler="full")
    _, _, _, _, plain = setup()
    assert w.batch_stats["sampled_edges_mean"] > 0
    assert full.batch_stats["sampled_edges_mean"] > plain.batch_stats["sampled_edges_mean"]
    assert len(full.batch_stats["nodes_per_hop_mean"]) == 3
    # the sampler's hops and draw rounds reach its task (none drawn Floyd's way for these two)
    first = {name: stage(x.tasks[0][0], "sample", "cpu_sample")[0] for name, x in
             (("replace", w), ("full", full), ("plain", plain))}
    assert [(t.sampling.hops, t.sampling.draws) for t in first.values()] == [(2, 0), (2, 0), (2, 7)]
    assert first["replace"].sampling.checks == first["full"].sampling.checks == 0 < first["plain"].sampling.checks


def test_default_scenario_adds_no_new_statistics():
    _, _, _, _, w = setup()
    assert set(w.batch_stats) == {"sampled_edges_mean", "input_nodes_mean"}


@pytest.mark.parametrize("name", ["gcn", "gat", "gin"])
def test_models_param_counts_reach_allreduce(name):
    from gnnsim.workload.models import get_model
    data = {**BASE, "model": {"name": name, "hidden_dim": 8, "heads": 2}}
    s = scenario_from_dict(data)
    g, c = build_graph(s), cluster_for(s)
    w = build_workload(s, g, partition_graph(g, "metis", 4, seed=0), c)
    dims = [(16, 8), (8, g.num_classes)]
    assert w.param_count == get_model(name).param_count(dims, 2) == sum(w.layer_params)
    assert stage(w.tasks[0][0], "allreduce")[0].bytes == w.param_count * 4


def test_memory_report_flags_a_job_that_does_not_fit():
    rep = memory_report([{"parameters": 10, "activations": 90}, {"parameters": 10, "activations": 200}], 150, "gpu")
    assert rep["peak_bytes"] == [100, 210] and rep["fits"] is False and rep["worst_rank"] == 1
    assert memory_report([{"parameters": 10}], 150, "gpu")["fits"] is True


def test_adam_state_is_two_moments():
    _, _, _, _, w = setup()
    mem = w.memory["by_category"]
    assert mem["parameters"] == mem["gradients"] == w.param_count * 4
    assert mem["optimizer_state"] == 2 * w.param_count * 4


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PROP = {}


def _prop_setup():
    if not _PROP:
        s, g, c, p, _ = setup()
        _PROP.update(s=s, g=g, c=c)
    return _PROP["s"], _PROP["g"], _PROP["c"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0), st.integers(0, 3))
def test_every_input_row_has_exactly_one_source(seed, cache_share, rank):
    """Property: for any partition and cache, cached + local + peer + remote = input rows,
    bytes on the wire are the peer and remote rows, and h2d carries every uncached row."""
    from gnnsim.workload.builder import iteration_tasks
    from gnnsim.workload.cache import FeatureCache

    s, g, c = _prop_setup()
    rng = np.random.default_rng(seed)
    assignment = rng.integers(0, 4, g.num_nodes).astype(np.int32)
    cache = FeatureCache("degree", rng.random(g.num_nodes) < cache_share, 64)
    mb = sample_minibatch_for(g, rng)
    chain = iteration_tasks(mb, assignment, rank, 4, s, g, c, 100, cache)
    f = stage(chain, "fetch")[0]
    inputs = mb.input_nodes.size
    assert f.rows.cached_rows == cache.mask[mb.input_nodes].sum()
    assert f.rows.cached_rows + f.rows.local_rows + f.rows.peer_rows + f.rows.remote_rows == inputs
    assert sum(f.rows.rows_from) == inputs - f.rows.cached_rows
    assert f.bytes == (f.rows.peer_rows + f.rows.remote_rows) * f.rows.row_bytes
    h2d = stage(chain, "h2d")[0]
    assert h2d.bytes == (inputs - f.rows.cached_rows) * f.rows.row_bytes + index_bytes(chain)
    # the rows, each block's two index arrays and the seeds; the rows' positions when cached
    assert h2d.rounds == 2 * len(mb.blocks) + 1 + (inputs > f.rows.cached_rows) * (1 + (f.rows.cached_rows > 0))


def sample_minibatch_for(g, rng):
    from gnnsim.workload.sampler import sample_minibatch

    return sample_minibatch(g.indptr, g.indices, rng.choice(g.train_ids, 32, replace=False), [4, 3], rng)
