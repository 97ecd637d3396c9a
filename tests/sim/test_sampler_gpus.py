"""Sampler GPUs (training.sampler_gpus, GNNLab's factored design) by hand."""

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.cost.placement import gpu_sampling_s
from gnnsim.errors import ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for, simulate
from gnnsim.sim.sampler_gpus import sampled_block_bytes
from gnnsim.workload.builder import ID_BYTES, build_workload, rank_minibatches, trainer_seeds

BASE = {"graph": {"num_nodes": 4000, "num_communities": 4, "avg_degree": 8, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 64, "fanouts": [5, 4], "prefetch_depth": 2,
                     "sampling": {"device": "gpu"}, "sampler_gpus": 1},
        "simulation": {"iterations": 3}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 3}}


def scenario(cluster=None, **training):
    return scenario_from_dict({**BASE, "training": {**BASE["training"], **training},
                               "cluster": {**BASE["cluster"], **(cluster or {})}})


def test_samplers_come_out_of_the_node_gpus():
    assert cluster_for(scenario()).node.trainers == 2  # 3 GPUs: 1 samples, 2 train
    assert cluster_for(scenario(cluster={"trainers_per_node": None}, sampler_gpus=2)).node.trainers == 6  # DGX: 8
    assert "sampler_gpus" not in scenario(sampling={"device": "gpu"}, sampler_gpus=0).to_dict()["training"]


def test_bad_sampler_gpus_are_errors_naming_the_key():
    with pytest.raises(ScenarioError, match=r"training.sampler_gpus: 3 of the 3 GPUs.*at most 2"):
        cluster_for(scenario(sampler_gpus=3))
    with pytest.raises(ScenarioError, match=r"training.sampler_gpus.*sampling.device is 'cpu'"):
        scenario(sampling={"device": "cpu"})


def test_trainers_copy_the_blocks_and_hold_no_structure():
    s = scenario()
    g, c = build_graph(s), cluster_for(s)
    p = partition_graph(g, s.partition.method, c.num_trainers, seed=0)
    w = build_workload(s, g, p, c)
    seeds = trainer_seeds(g, p, c.num_trainers, s)
    for mb, chain in zip(rank_minibatches(g, seeds[0], 0, s, w.iterations, w.iterations_per_epoch),
                         [w.tasks[i][0] for i in range(w.iterations)]):
        sample, h2d = chain[0], next(t for t in chain if t.stage == "h2d")
        assert sample.kind == "pool_sample" and sample.sampling.edges == mb.num_sampled_edges
        blocks = ID_BYTES * (2 * sum(b.num_edges for b in mb.blocks) + mb.seeds.size)
        assert h2d.bytes == mb.input_nodes.size * 16 * 4 + blocks  # every row (no cache) and the blocks
        assert sampled_block_bytes(sample.sampling.edges, sample.sampling.seeds) == blocks
    assert "graph_structure" not in w.memory["by_category"]


def test_one_batch_on_a_sampler_gpu_by_hand():
    # one trainer, no queue ahead: the sampler's kernels, then its blocks to host memory over PCIe 4
    result = simulate(scenario(cluster={"trainers_per_node": 2}, prefetch_depth=0), sensitivity=False)
    c = result.cluster
    w = result.workload
    spans = [sp for sp in result.timeline.spans if sp.resource == "node0/samplergpu0"]
    assert len(spans) == w.iterations
    for sp in spans:
        task = w.tasks[sp.iteration][0][0]
        link = c.node.h2d_link
        by_hand = (gpu_sampling_s(task.sampling.nodes, task.sampling.edges, task.sampling.hops, c.node.trainer_device, link, False)
                   + link.latency_s + sampled_block_bytes(task.sampling.edges, task.sampling.seeds) / link.bytes_per_s)
        assert sp.end_s - sp.start_s == pytest.approx(by_hand)


def test_a_busy_pool_queues_and_is_the_bottleneck():
    # 7 trainers, 1 UVA sampler GPU: each batch's structure crosses PCIe at 19 GB/s, one batch at a time
    s = scenario(cluster={"trainers_per_node": 8}, sampling={"device": "uva"}, features={"placement": "gpu"},
                 fanouts=[15, 10], batch_size=256)
    result = simulate(s, sensitivity=False)
    pool = sorted((sp for sp in result.timeline.spans if "samplergpu" in sp.resource), key=lambda sp: sp.start_s)
    assert len(pool) == 7 * result.workload.iterations
    assert all(a.end_s <= b.start_s + 1e-12 for a, b in zip(pool, pool[1:]))  # one batch at a time
    assert result.analysis.bottleneck["resource"] == "sampler gpus"
    assert result.analysis.bottleneck["instance"] == "node0/samplergpu0"
