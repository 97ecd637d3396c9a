"""The placed loader's tasks and memory, counted by hand from the sampled batches."""

from types import SimpleNamespace

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.workload.builder import ID_BYTES, build_workload, rank_minibatches, trainer_seeds
from gnnsim.workload.loader import FEATURE_GATHER, check_placement, placed

BASE = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 64, "fanouts": [4, 3]},
        "simulation": {"iterations": 2}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}
ROW = 16 * 4  # float32 rows of 16 features


def setup(cluster=None, **training):
    s = scenario_from_dict({**BASE, "training": {**BASE["training"], **training},
                            "cluster": cluster or BASE["cluster"]})
    g, c = build_graph(s), cluster_for(s)
    p = partition_graph(g, s.partition.method, c.num_trainers, seed=0)
    return s, g, c, p, build_workload(s, g, p, c)


def batches(s, g, p, c, w, rank=0):
    seeds = trainer_seeds(g, p, c.num_trainers, s)
    return rank_minibatches(g, seeds[rank], rank, s, w.iterations, w.iterations_per_epoch)


def test_explicit_defaults_are_not_placed():
    s = scenario_from_dict({"training": {"sampling": {"device": "cpu"}, "features": {"placement": "host"}}})
    assert not placed(s.training)
    assert "sampling" not in s.to_dict()["training"]  # results of older scenarios stay byte-identical


def test_gpu_features_drop_fetch_and_copy_and_gather_in_forward():
    s, g, c, p, w = setup(sampling={"device": "gpu"}, features={"placement": "gpu"})
    for mb, chain in zip(batches(s, g, p, c, w), [w.tasks[i][0] for i in range(w.iterations)]):
        assert [t.stage for t in chain[:2]] == ["sample", "forward"]
        assert chain[0].kind == "gpu_sample" and chain[0].sampling.edges == mb.num_sampled_edges
        gather = chain[1].kernels[0]
        assert gather.name == FEATURE_GATHER and gather.bytes == 2 * mb.input_nodes.size * ROW


def test_uva_features_copy_only_the_blocks():
    s, g, c, p, w = setup(features={"placement": "uva"}, loader={"workers": 2})
    for mb, chain in zip(batches(s, g, p, c, w), [w.tasks[i][0] for i in range(w.iterations)]):
        fetch, h2d = [t for t in chain if t.stage in ("fetch", "h2d")]
        assert fetch.kind == "uva_gather" and fetch.rows.local_rows == mb.input_nodes.size
        assert h2d.bytes == ID_BYTES * (2 * sum(b.num_edges for b in mb.blocks) + mb.seeds.size)
        assert h2d.rounds == 2 * len(mb.blocks) + 1


def test_gpu_sampling_copies_only_the_rows():
    s, g, c, p, w = setup(sampling={"device": "uva"}, loader={"workers": 3})
    for mb, chain in zip(batches(s, g, p, c, w), [w.tasks[i][0] for i in range(w.iterations)]):
        sample, fetch, h2d = [t for t in chain if t.stage in ("sample", "fetch", "h2d")]
        assert sample.kind == "uva_sample" and fetch.kind == "host_gather" and fetch.workers == 3
        assert (h2d.bytes, h2d.rounds) == (mb.input_nodes.size * ROW, 1)


def test_memory_counts_the_structure_and_the_resident_rows():
    s, g, c, p, w = setup(sampling={"device": "gpu"}, features={"placement": "gpu"})
    by = w.memory["by_category"]
    assert by["graph_structure"] == 8 * (g.num_nodes + 1 + g.num_edges)
    assert by["resident_features"] == g.num_nodes * ROW
    _, _, _, _, plain = setup()
    assert "graph_structure" not in plain.memory["by_category"]
    assert w.memory["peak_bytes"][0] - plain.memory["peak_bytes"][0] == by["graph_structure"] + by["resident_features"]


def test_placements_a_cluster_cannot_run_name_the_key():
    with pytest.raises(ScenarioError, match="training.sampling.device.*needs GPU trainers"):
        setup(cluster={"profile": "localhost-cpu"}, sampling={"device": "uva"})
    with pytest.raises(ScenarioError, match="training.features.placement.*single-node-multigpu"):
        setup(mode="minibatch", features={"placement": "uva"})
    s = scenario_from_dict({**BASE, "training": {**BASE["training"], "features": {"placement": "gpu"}}})
    c = cluster_for(s)
    papers = SimpleNamespace(num_nodes=111_059_956, num_edges=1_615_685_872, feature_dim=128)  # 57 GB of rows
    with pytest.raises(ScenarioError, match="training.features.placement: each GPU would hold.*Use uva"):
        check_placement(s, SimpleNamespace(**{**vars(papers), "feature_dim": 256}), c)
    check_placement(s, papers, c)  # 53 GiB of rows fit an 80 GiB A100
    with pytest.raises(ScenarioError, match="training.cache: the cache holds 90.00 GiB"):
        check_placement(scenario_from_dict(BASE), papers, c, cache_bytes=90 * 2**30)
