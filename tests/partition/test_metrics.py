"""Partition metrics against hand counts and a brute-force reference; invariance under part renumbering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.partition.metrics import partition_metrics
from gnnsim.partition.registry import VertexCut


def make_graph(src, dst, n, train=(0,)):
    csr = csr_from_edges(np.asarray(src), np.asarray(dst), n)
    return Graph(csr, 4, 2, np.asarray(train, dtype=np.int64), np.zeros(n, dtype=np.int64))


@pytest.fixture
def star_path():
    """0-1, 0-2, 0-3, 3-4, 4-5: a star on 0 joined to a path; train nodes 1, 4, 5."""
    return make_graph([0, 0, 0, 3, 4], [1, 2, 3, 4, 5], 6, train=(1, 4, 5))


def test_hand_counts(star_path):
    m = partition_metrics(star_path, np.array([0, 0, 0, 1, 1, 1]), 2, time_s=0.25)
    assert m.edge_cut == 1 and m.edge_cut_fraction == pytest.approx(2 / 10)
    assert m.comm_volume == 2  # node 0 sees part 1 (via 3); node 3 sees part 0 (via 0)
    assert m.halo_nodes == [1, 1]  # part 0 needs {3}; part 1 needs {0}
    assert m.halo_nodes_2hop == [2, 3]  # part 0: {3, 4}; part 1: {0, 1, 2}
    assert m.nodes_per_part == [3, 3] and m.node_balance == 1.0
    assert m.edges_per_part == [5, 5] and m.edge_balance == 1.0  # degree sums 3+1+1, 2+2+1
    assert m.train_per_part == [1, 2] and m.train_balance == pytest.approx(2 / 1.5)
    assert m.replication_factor == pytest.approx(1 + 2 / 6)
    assert m.time_s == 0.25 and m.num_parts == 2 and not m.is_vertex_cut
    summary = m.summary()
    assert summary["balance"] == {"nodes": 1.0, "edges": 1.0, "train": pytest.approx(4 / 3)}
    assert {"edge_cut", "edge_cut_fraction", "comm_volume", "halo_nodes", "time_s"} <= set(summary)


def test_single_part_has_no_cut_or_halo(star_path):
    m = partition_metrics(star_path, np.zeros(6, dtype=np.int32), 1)
    assert (m.edge_cut, m.comm_volume, m.halo_nodes, m.halo_nodes_2hop, m.replication_factor) == (0, 0, [0], [0], 1.0)


def test_vertex_cut_hand_counts(star_path):
    src, dst = star_path.undirected_edges()
    assert list(zip(src.tolist(), dst.tolist())) == [(0, 1), (0, 2), (0, 3), (3, 4), (4, 5)]
    cut = VertexCut(src, dst, np.array([0, 0, 1, 1, 1], dtype=np.int32))
    owners = np.array([0, 0, 0, 1, 1, 1])  # node 0 holds 2 edges on part 0, 1 on part 1
    m = partition_metrics(star_path, owners, 2, vertex_cut=cut)
    assert m.replication_factor == pytest.approx(7 / 6)  # node 0 lives on both parts
    assert m.edges_per_part == [4, 6] and m.edge_balance == pytest.approx(6 / 5)
    assert m.is_vertex_cut


def test_directed_graph_volume_uses_row_neighbours():
    # Rows are destinations: edge 0 -> 1 means row 1 lists 0; node 1 aggregates from part 0.
    csr = csr_from_edges(np.array([0]), np.array([1]), 2, symmetrize=False)
    g = Graph(csr, 4, 2, np.array([0]), np.zeros(2, dtype=np.int64))
    m = partition_metrics(g, np.array([0, 1]), 2)
    assert m.comm_volume == 1  # node 1 has one remote part among its neighbours
    assert m.halo_nodes == [0, 1]  # part 1 needs node 0; part 0 needs nothing


def brute_force(graph: Graph, assignment: np.ndarray, k: int) -> dict:
    """Set-based reference, one node at a time (fine for a few dozen nodes)."""
    csr = graph.csr
    nbrs = [set(csr.indices[csr.indptr[v]:csr.indptr[v + 1]].tolist()) for v in range(graph.num_nodes)]
    volume = sum(len({int(assignment[u]) for u in nbrs[v]} - {int(assignment[v])}) for v in range(graph.num_nodes))
    halo1, halo2 = [], []
    for p in range(k):
        own = {v for v in range(graph.num_nodes) if assignment[v] == p}
        one = set().union(*[nbrs[v] for v in own]) - own if own else set()
        two = set().union(*[nbrs[v] for v in own | one]) - own if own else set()
        halo1.append(len(one))
        halo2.append(len(two | one))
    cut = sum(1 for v in range(graph.num_nodes) for u in nbrs[v] if assignment[u] != assignment[v])
    return {"volume": volume, "halo1": halo1, "halo2": halo2, "cut": cut // 2}


@st.composite
def graph_and_assignment(draw):
    n = draw(st.integers(2, 25))
    m = draw(st.integers(0, 60))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    k = draw(st.integers(1, min(n, 5)))
    assignment = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int32)
    train = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return make_graph(src, dst, n, sorted(train)), assignment, k


@settings(max_examples=60, deadline=None)
@given(graph_and_assignment())
def test_metrics_match_brute_force(case):
    graph, assignment, k = case
    m = partition_metrics(graph, assignment, k)
    ref = brute_force(graph, assignment, k)
    assert (m.comm_volume, m.halo_nodes, m.halo_nodes_2hop, m.edge_cut) == (
        ref["volume"], ref["halo1"], ref["halo2"], ref["cut"])
    assert sum(m.nodes_per_part) == graph.num_nodes and sum(m.edges_per_part) == graph.num_edges


@settings(max_examples=60, deadline=None)
@given(graph_and_assignment(), st.randoms(use_true_random=False))
def test_metrics_do_not_change_when_parts_are_renumbered(case, random):
    graph, assignment, k = case
    perm = np.array(random.sample(range(k), k), dtype=np.int32)  # old part p becomes perm[p]
    a, b = partition_metrics(graph, assignment, k), partition_metrics(graph, perm[assignment], k)
    assert (a.edge_cut, a.edge_cut_fraction, a.comm_volume) == (b.edge_cut, b.edge_cut_fraction, b.comm_volume)
    assert (a.node_balance, a.edge_balance, a.train_balance) == (b.node_balance, b.edge_balance, b.train_balance)
    assert a.replication_factor == b.replication_factor
    for field in ("halo_nodes", "halo_nodes_2hop", "nodes_per_part", "edges_per_part", "train_per_part"):
        old, new = np.array(getattr(a, field)), np.array(getattr(b, field))
        assert (new[perm] == old).all(), field


def sparse_reference(graph: Graph, assignment: np.ndarray, k: int) -> tuple[list, list, int]:
    """Halos and volume as sparse products with the part indicator matrix (the pre-pass formulation)."""
    import scipy.sparse as sp

    csr = graph.csr.astype(np.float32)
    own = sp.csr_matrix((np.ones(assignment.size, dtype=np.float32), (np.arange(assignment.size), assignment)),
                        shape=(assignment.size, k)).toarray() > 0
    need1 = (csr.T @ own.astype(np.float32)) > 0
    need2 = (csr.T @ (need1 | own).astype(np.float32)) > 0
    volume = int((((csr @ own.astype(np.float32)) > 0) & ~own).sum())
    return (need1 & ~own).sum(axis=0).tolist(), ((need1 | need2) & ~own).sum(axis=0).tolist(), volume


@pytest.mark.parametrize("undirected", [True, False])
def test_many_parts_span_several_mask_words(undirected):
    """70 and 130 parts need two and three 64-bit passes; the counts equal the sparse products."""
    from gnnsim.graph.presets import preset_graph

    g = preset_graph("ogbn-arxiv", scale=0.01, seed=0)
    if not undirected:  # drop some stored edges: a directed graph, halos counted on its transpose
        keep = np.random.default_rng(0).random(g.csr.nnz) < 0.7
        csr = g.csr.copy()
        csr.data = keep.astype(np.float32)
        csr.eliminate_zeros()
        g = Graph(csr, 4, 2, g.train_ids, g.labels)
    for k in (70, 130):
        a = np.random.default_rng(k).integers(0, k, g.num_nodes).astype(np.int32)
        m = partition_metrics(g, a, k)
        halo1, halo2, volume = sparse_reference(g, a, k)
        assert (m.halo_nodes, m.halo_nodes_2hop, m.comm_volume) == (halo1, halo2, volume)


def test_compact_csr_gives_the_same_metrics(monkeypatch):
    """A graph held as int64 offsets with int32 ids (above 2^31 stored edges) is measured alike."""
    import gnnsim.graph.csr as csr_mod
    from gnnsim.graph.csr import CompactCSR, make_csr
    from gnnsim.graph.presets import preset_graph

    g = preset_graph("ogbn-products", scale=0.002, seed=1)
    monkeypatch.setattr(csr_mod, "INT32_MAX", 10)
    compact = make_csr(g.indptr.astype(np.int64), g.indices, g.num_nodes)
    assert isinstance(compact, CompactCSR)
    big = Graph(compact, g.feature_dim, g.num_classes, g.train_ids, g.labels, undirected=True)
    a = np.random.default_rng(0).integers(0, 8, g.num_nodes).astype(np.int32)
    assert partition_metrics(big, a, 8) == partition_metrics(g, a, 8)


@pytest.mark.parametrize("undirected", [True, False])
def test_forked_passes_give_the_metrics_one_process_gives(monkeypatch, forked, undirected):
    """Blocks of rows measured on two forked workers (two mask words at 70 parts): the same
    metrics as one process, and no worker left."""
    import multiprocessing

    from gnnsim.graph.presets import preset_graph
    from gnnsim.partition import metrics

    g = preset_graph("ogbn-arxiv", scale=0.01, seed=0)
    if not undirected:
        keep = np.random.default_rng(0).random(g.csr.nnz) < 0.7
        csr = g.csr.copy()
        csr.data = keep.astype(np.float32)
        csr.eliminate_zeros()
        g = Graph(csr, 4, 2, g.train_ids, g.labels)
    monkeypatch.setattr(metrics, "BLOCK", 997)
    for k in (16, 70):
        a = np.random.default_rng(k).integers(0, k, g.num_nodes).astype(np.int32)
        monkeypatch.setattr(metrics, "PARALLEL_MIN_EDGES", 1 << 62)
        one = partition_metrics(g, a, k)
        monkeypatch.setattr(metrics, "PARALLEL_MIN_EDGES", 0)
        assert metrics.metrics_processes(g.num_edges) == 2
        assert partition_metrics(g, a, k) == one
    assert multiprocessing.active_children() == []
