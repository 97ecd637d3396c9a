"""``graph.stands_for_nodes``: a scaled stand-in prices the sampler's cache misses at
the size of the graph it stands for."""

import math

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.cost.model import CostModel
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.workload.builder import build_workload
from gnnsim.workload.tasks import Kind

SMALL = {"graph": {"num_nodes": 3000, "num_communities": 4, "avg_degree": 6},
         "training": {"batch_size": 64, "fanouts": [4, 3]}, "simulation": {"iterations": 2},
         "cluster": {"profile": "pcie3-gpu-workstation-1"}}
PAPERS = 111_059_956  # ogbn-papers100M's nodes


def _samples(graph_extra=None):
    s = scenario_from_dict({**SMALL, "graph": {**SMALL["graph"], **(graph_extra or {})}})
    g, c = build_graph(s), cluster_for(s)
    w = build_workload(s, g, partition_graph(g, s.partition.method, c.num_trainers, seed=0), c)
    return s, c, [t for it in w.tasks for chain in it for t in chain if t.kind is Kind.CPU_SAMPLE]


def test_the_sampler_sees_the_graph_it_runs_on_unless_told_otherwise():
    _, _, own = _samples()
    s, c, big = _samples({"stands_for_nodes": PAPERS})
    assert {t.sampling.graph_nodes for t in own} == {3000}
    assert {t.sampling.graph_nodes for t in big} == {PAPERS}
    # same batches; each edge costs per_edge_doubling x log2(111 M / 8000) more (3000 nodes fit
    # under the profile's 8000-node reference: no term of their own)
    cost = CostModel(c)
    node = c.node.sampler
    for a, b in zip(own, big):
        assert a.sampling.edges == b.sampling.edges > 0
        extra = node.per_edge_doubling_s * math.log2(PAPERS / node.reference_nodes) * a.sampling.edges
        assert cost.sample_time(b) - cost.sample_time(a) == pytest.approx(extra, rel=1e-9)


def test_the_key_is_echoed_only_when_set():
    s, _, _ = _samples()
    assert "stands_for_nodes" not in s.model_dump()["graph"]
    s, _, _ = _samples({"stands_for_nodes": PAPERS})
    assert s.model_dump()["graph"]["stands_for_nodes"] == PAPERS
