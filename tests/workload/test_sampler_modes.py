"""Sampler variants against brute-force references on small graphs."""

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.graph.generators import sbm
from gnnsim.graph.graph import csr_from_edges
from gnnsim.workload.sampler import (
    _SCRATCH,
    _floyd,
    _to_block_sorted,
    all_neighbors,
    full_minibatch,
    induced_minibatch,
    sample_minibatch,
    sample_neighbors,
    to_block,
)


def small_graph(n=300, seed=0):
    return sbm(n, 4, 6.0, 0.8, feature_dim=8, num_classes=2, seed=seed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=15, unique=True),
       st.lists(st.integers(0, 40), min_size=0, max_size=80), st.integers(0, 2**31 - 1))
def test_relabel_matches_sort_based_unique(dst, nbr, seed):
    dst, nbr = np.array(dst, dtype=np.int64), np.array(nbr, dtype=np.int64)
    owner = np.random.default_rng(seed).integers(0, dst.size, nbr.size)
    a, b = to_block(dst, owner, nbr), _to_block_sorted(dst, owner, nbr)
    assert a.src_nodes.tolist() == b.src_nodes.tolist()
    assert a.edge_src.tolist() == b.edge_src.tolist() and a.num_dst == b.num_dst


def test_relabel_leaves_scratch_clean():
    to_block(np.array([3, 1]), np.array([0, 1, 1]), np.array([5, 7, 5]))
    b = to_block(np.array([5]), np.array([0, 0]), np.array([3, 7]))
    assert b.src_nodes.tolist() == [5, 3, 7] and b.edge_src.tolist() == [1, 2]
    assert (_SCRATCH.local == -1).all()


def floyd_rows(d, fanout, rng):
    """Floyd's algorithm one row per node, as the sampler first wrote it (the reference)."""
    chosen = np.empty((d.size, fanout), dtype=np.int64)
    for j in range(fanout):
        t = d - fanout + j
        r = (rng.random(d.size) * (t + 1)).astype(np.int64)
        taken = (chosen[:, :j] == r[:, None]).any(axis=1) if j else np.zeros(d.size, dtype=bool)
        chosen[:, j] = np.where(taken, t, r)
    return chosen


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.lists(st.integers(13, 60), min_size=1, max_size=30), st.integers(0, 2**31 - 1))
def test_floyd_columns_match_the_row_reference_and_are_distinct(fanout, degrees, seed):
    d = np.array(degrees, dtype=np.int64)
    got = _floyd(d, fanout, np.random.default_rng(seed)).T
    assert got.tolist() == floyd_rows(d, fanout, np.random.default_rng(seed)).tolist()
    assert all(len(set(row)) == fanout and max(row) < deg for row, deg in zip(got.tolist(), degrees))


def test_with_replacement_draws_exactly_fanout_real_neighbours():
    g = small_graph()
    nodes = np.arange(0, 300, 7)
    owner, nbr = sample_neighbors(g.indptr, g.indices, nodes, 12, np.random.default_rng(0), replace=True)
    deg = np.diff(g.indptr)[nodes]
    counts = np.bincount(owner, minlength=nodes.size)
    assert np.all(counts == np.where(deg > 0, 12, 0))  # also nodes with fewer than 12 neighbours
    adj = {v: set(g.indices[g.indptr[v]:g.indptr[v + 1]].tolist()) for v in nodes.tolist()}
    assert all(u in adj[nodes[o]] for o, u in zip(owner.tolist(), nbr.tolist()))


def test_with_replacement_is_uniform():
    # a star: node 0 with leaves 1..4, 4000 draws -> each leaf about 1/4
    csr = csr_from_edges(np.zeros(4, dtype=np.int64), np.arange(1, 5), 5)
    _, nbr = sample_neighbors(csr.indptr, csr.indices, np.array([0]), 4000, np.random.default_rng(3), replace=True)
    assert np.allclose(np.bincount(nbr, minlength=5)[1:] / 4000, 0.25, atol=0.03)


def test_full_neighbourhood_matches_breadth_first_search():
    g = small_graph()
    seeds = np.array([0, 17, 150])
    mb = full_minibatch(g.indptr, g.indices, seeds, 2)
    nxg = nx.from_scipy_sparse_array(g.csr)
    reach1 = set(seeds.tolist()) | {u for s in seeds.tolist() for u in nxg[s]}
    reach2 = reach1 | {u for s in reach1 for u in nxg[s]}
    assert mb.nodes_per_hop == [3, len(reach1), len(reach2)]
    assert set(mb.input_nodes.tolist()) == reach2
    deg = np.diff(g.indptr)
    assert mb.blocks[-1].num_edges == deg[seeds].sum()
    assert mb.blocks[0].num_edges == deg[np.array(sorted(reach1))].sum()


def test_all_neighbors_counts_every_edge():
    g = small_graph()
    owner, nbr = all_neighbors(g.indptr, g.indices, np.arange(g.num_nodes))
    assert nbr.size == g.num_edges and np.all(np.bincount(owner, minlength=g.num_nodes) == np.diff(g.indptr))


def test_sampled_blocks_are_subgraphs_brute_force():
    g = small_graph()
    mb = sample_minibatch(g.indptr, g.indices, np.arange(0, 300, 11), [5, 3], np.random.default_rng(1), replace=True)
    edges = set(zip(*[a.tolist() for a in g.csr.nonzero()]))
    for b in mb.blocks:
        assert np.unique(b.src_nodes).size == b.num_src
        for s, d in zip(b.src_nodes[b.edge_src].tolist(), b.src_nodes[b.edge_dst].tolist()):
            assert (d, s) in edges


def test_induced_subgraph_matches_networkx():
    g = small_graph()
    nodes = np.random.default_rng(2).permutation(300)[:90]
    mb = induced_minibatch(g.indptr, g.indices, nodes, nodes[:10], 3)
    sub = nx.from_scipy_sparse_array(g.csr).subgraph(nodes.tolist())
    b = mb.blocks[0]
    assert b.num_edges == 2 * sub.number_of_edges()  # both directions stored
    assert b.src_nodes.tolist() == nodes.tolist() and b.num_dst == 90
    assert len(mb.blocks) == 3 and mb.num_sampled_edges == b.num_edges and mb.num_sampled_nodes == 90
    got = {(int(nodes[d]), int(nodes[s])) for s, d in zip(b.edge_src, b.edge_dst)}
    assert got == {(u, v) for u, v in sub.edges()} | {(v, u) for u, v in sub.edges()}
