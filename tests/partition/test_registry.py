"""The registry: every method gives each node exactly one part; errors name what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.errors import PartitionError
from gnnsim.graph import sbm
from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.partition import EDGE_PARTITIONERS, PARTITIONERS, known_methods, metrics_of, partition_graph
from gnnsim.partition.registry import VertexCut, owners_from_edges, parse_method

METHODS = ["random", "range", "metis", "ldg", "fennel", "random-edge", "hdrf", "grid2d"]


def test_every_issue_method_is_registered():
    assert set(METHODS) <= set(known_methods()) and "file:PATH" in known_methods()
    assert {"random-edge", "hdrf", "grid2d"} == set(EDGE_PARTITIONERS)


@st.composite
def small_graph(draw):
    n = draw(st.integers(1, 30))
    m = draw(st.integers(0, 80))
    src = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    dst = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    csr = csr_from_edges(src, dst, n)
    return Graph(csr, 4, 2, np.array([0]), np.zeros(n, dtype=np.int64))


@settings(max_examples=25, deadline=None)
@given(small_graph(), st.integers(1, 6), st.sampled_from(METHODS), st.integers(0, 3))
def test_every_node_gets_exactly_one_part(graph, k, method, seed):
    k = min(k, graph.num_nodes)
    p = partition_graph(graph, method, k, seed=seed)
    assert p.assignment.dtype == np.int32 and p.assignment.shape == (graph.num_nodes,)
    assert p.assignment.min() >= 0 and p.assignment.max() < k
    if method in EDGE_PARTITIONERS:
        src, dst = graph.undirected_edges()
        assert p.vertex_cut.edge_parts.shape == src.shape  # every undirected edge exactly once
        assert p.vertex_cut.edge_parts.size == 0 or p.vertex_cut.edge_parts.max() < k
    else:
        assert p.vertex_cut is None


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_partition(method):
    g = sbm(300, 3, 6.0, 0.9, seed=0)
    a, b = partition_graph(g, method, 3, seed=7), partition_graph(g, method, 3, seed=7)
    assert (a.assignment == b.assignment).all()


def test_owner_rule_most_edges_ties_lowest_isolated_round_robin():
    # Node 0: edges on parts 1, 1, 0 -> owner 1. Node 1: parts 1, 0 -> tie -> 0. Nodes 4, 5: isolated.
    cut = VertexCut(np.array([0, 0, 0, 1]), np.array([1, 2, 3, 3]), np.array([1, 1, 0, 0], dtype=np.int32))
    assert owners_from_edges(6, cut, 2).tolist() == [1, 0, 1, 0, 0, 1]


def test_errors_name_the_problem():
    g = sbm(50, 2, 4.0, 0.9)
    with pytest.raises(PartitionError, match="unknown partition method 'metsi'. Known: fennel.*file:PATH.*'metis'"):
        partition_graph(g, "metsi", 2)
    for bad in (0, 51, -1):
        with pytest.raises(PartitionError, match="between 1 and the node count 50"):
            partition_graph(g, "random", bad)
    with pytest.raises(PartitionError, match="unknown option 'balance'. Options: balance_train, balance_edges"):
        partition_graph(g, "metis?balance=true", 2)
    with pytest.raises(PartitionError, match="order must be"):
        partition_graph(g, "ldg", 2, order="sideways")


def test_options_in_name_or_keywords():
    assert parse_method("fennel?gamma=2&order=random") == ("fennel", {"gamma": 2, "order": "random"})
    g = sbm(200, 2, 6.0, 0.9)
    a = partition_graph(g, "ldg?batch_size=1", 2).assignment
    b = partition_graph(g, "ldg", 2, batch_size=1).assignment
    assert (a == b).all()


def test_file_partitioner_formats(tmp_path):
    g = sbm(6, 1, 2.0, 1.0)
    np.save(tmp_path / "a.npy", np.array([0, 1, 0, 1, 0, 1]))
    (tmp_path / "a.txt").write_text("# one part per line\n0\n1\n0\n1\n0\n\n1\n")
    cfg = {"num_parts": 2, "node_map": {"_N": [[0, 4], [4, 6]]}, "part-0": {}, "part-1": {}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert partition_graph(g, f"file:{tmp_path / 'a.npy'}", 2).assignment.tolist() == [0, 1, 0, 1, 0, 1]
    assert partition_graph(g, f"file:{tmp_path / 'a.txt'}", 2).assignment.tolist() == [0, 1, 0, 1, 0, 1]
    p = partition_graph(g, f"file:{tmp_path / 'cfg.json'}", 2)
    assert p.assignment.tolist() == [0, 0, 0, 0, 1, 1] and p.assignment.dtype == np.int32


def test_file_partitioner_errors(tmp_path):
    g = sbm(6, 1, 2.0, 1.0)
    np.save(tmp_path / "short.npy", np.array([0, 1, 0]))
    with pytest.raises(PartitionError, match=r"short.npy: holds 3 part ids but the graph has 6 nodes"):
        partition_graph(g, f"file:{tmp_path / 'short.npy'}", 2)
    np.save(tmp_path / "big.npy", np.array([0, 1, 2, 0, 1, 2]))
    with pytest.raises(PartitionError, match=r"big.npy: part ids must lie in \[0, 1\]"):
        partition_graph(g, f"file:{tmp_path / 'big.npy'}", 2)
    np.save(tmp_path / "float.npy", np.zeros(6))
    with pytest.raises(PartitionError, match="must be integers"):
        partition_graph(g, f"file:{tmp_path / 'float.npy'}", 2)
    (tmp_path / "bad.txt").write_text("0\n1\nx\n")
    with pytest.raises(PartitionError, match="bad.txt: line 3"):
        partition_graph(g, f"file:{tmp_path / 'bad.txt'}", 2)
    with pytest.raises(PartitionError, match="no such assignment file"):
        partition_graph(g, f"file:{tmp_path / 'nope.npy'}", 2)
    cfg = {"num_parts": 3, "node_map": {"_N": [[0, 2], [2, 4], [4, 6]]}, "part-0": {}, "part-1": {}, "part-2": {}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(PartitionError, match="holds 3 parts but 2 were asked for"):
        partition_graph(g, f"file:{tmp_path / 'cfg.json'}", 2)


def test_metrics_of_carries_time_and_vertex_cut():
    g = sbm(300, 3, 6.0, 0.9)
    p = partition_graph(g, "hdrf", 3)
    m = metrics_of(g, p)
    assert m.is_vertex_cut and m.time_s == p.time_s and m.replication_factor >= 1.0
    assert sum(m.edges_per_part) == g.symmetric.nnz


def test_registry_holds_plain_functions():
    g = sbm(100, 2, 4.0, 0.9)
    for name, fn in PARTITIONERS.items():
        a = fn(g, 2, seed=0)
        assert a.shape == (100,), name


def test_sparse_replica_path_matches_dense(monkeypatch):
    import gnnsim.partition.registry as registry
    from gnnsim.graph import chung_lu

    g = chung_lu(400, 6.0, seed=0)
    p = partition_graph(g, "hdrf", 5)
    dense = (owners_from_edges(g.num_nodes, p.vertex_cut, 5), registry.replication_factor(g.num_nodes, p.vertex_cut, 5))
    monkeypatch.setattr(registry, "DENSE_REPLICA_LIMIT", 0)
    sparse = (owners_from_edges(g.num_nodes, p.vertex_cut, 5), registry.replication_factor(g.num_nodes, p.vertex_cut, 5))
    assert (dense[0] == sparse[0]).all() and dense[1] == sparse[1]
