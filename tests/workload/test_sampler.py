import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.graph.generators import sbm
from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.workload.sampler import sample_minibatch, sample_neighbors, segment_arange, seed_batches, to_block


def star(n_leaves: int) -> Graph:
    """Node 0 joined to leaves 1..n."""
    csr = csr_from_edges(np.zeros(n_leaves, dtype=np.int64), np.arange(1, n_leaves + 1), n_leaves + 1)
    return Graph(csr, 4, 2, np.array([0]), np.zeros(n_leaves + 1, dtype=np.int64))


def test_segment_arange_matches_python():
    starts, lengths = np.array([5, 0, 9]), np.array([3, 0, 2])
    expected = [i for s, n in zip(starts, lengths) for i in range(s, s + n)]
    assert segment_arange(starts, lengths).tolist() == expected


def test_fanout_caps_neighbors_and_small_nodes_keep_all():
    g = star(20)
    rng = np.random.default_rng(0)
    owner, nbr = sample_neighbors(g.indptr, g.indices, np.array([0, 1]), 5, rng)
    # node 0 has 20 neighbours -> 5 distinct; leaf 1 has one neighbour (0) -> kept
    assert (owner == 0).sum() == 5 and len(set(nbr[owner == 0].tolist())) == 5
    assert nbr[owner == 1].tolist() == [0]
    assert set(nbr[owner == 0].tolist()) <= set(range(1, 21))


def test_sampling_is_uniform_without_replacement():
    g = star(10)
    rng = np.random.default_rng(1)
    counts = np.zeros(11)
    trials = 4000
    for _ in range(trials):
        _, nbr = sample_neighbors(g.indptr, g.indices, np.array([0]), 3, rng)
        assert len(set(nbr.tolist())) == 3
        counts[nbr] += 1
    # each leaf is chosen with probability 3/10
    assert np.allclose(counts[1:] / trials, 0.3, atol=0.04)


def test_two_hop_counts_on_path(path_graph):
    # seed 0 on the path 0-1-2-3-4: hop 1 reaches {1}, hop 2 from {0, 1} reaches {0, 2} (fan-out large)
    mb = sample_minibatch(path_graph.indptr, path_graph.indices, np.array([0]), [10, 10], np.random.default_rng(0))
    out, inp = mb.blocks[-1], mb.blocks[0]
    assert out.num_dst == 1 and out.num_edges == 1
    assert sorted(out.src_nodes.tolist()) == [0, 1]
    # the input block has dst {0, 1} with 1 + 2 edges and sources {0, 1, 2}
    assert inp.num_dst == 2 and inp.num_edges == 3
    assert sorted(inp.src_nodes.tolist()) == [0, 1, 2]
    assert mb.num_sampled_edges == 4


def test_block_relabelling_round_trips():
    dst = np.array([7, 3])
    owner = np.array([0, 0, 1])
    nbr = np.array([3, 9, 7])
    b = to_block(dst, owner, nbr)
    assert b.src_nodes[:2].tolist() == [7, 3]
    assert b.src_nodes[b.edge_src].tolist() == nbr.tolist()
    assert b.src_nodes[b.edge_dst].tolist() == [7, 7, 3]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), fanout=st.integers(1, 12), batch=st.integers(1, 50))
def test_sampled_edges_exist_and_respect_fanout(seed, fanout, batch):
    g = sbm(300, 3, 8.0, 0.8, seed=seed)
    rng = np.random.default_rng(seed)
    seeds = g.train_ids[:batch]
    mb = sample_minibatch(g.indptr, g.indices, seeds, [fanout, fanout], rng)
    adj = g.csr
    for b in mb.blocks:
        src = b.src_nodes[b.edge_src]
        dst = b.src_nodes[b.edge_dst]
        assert np.all(adj[dst, src].A1 == 1)  # every sampled edge is in the graph
        per_dst = np.bincount(b.edge_dst, minlength=b.num_dst)
        deg = g.degrees()[b.src_nodes[:b.num_dst]]
        assert np.array_equal(per_dst, np.minimum(deg, fanout))
        assert len(set(zip(src.tolist(), dst.tolist()))) == src.size  # no duplicate edges


def test_seed_batches_wrap_and_cover():
    rng = np.random.default_rng(0)
    batches = seed_batches(np.arange(10), 4, 5, rng)
    assert [b.size for b in batches] == [4] * 5
    assert sorted(np.concatenate(batches[:2]).tolist() + batches[2][:2].tolist()) == list(range(10))


def test_same_seed_same_batches():
    g = sbm(500, 4, 6.0, 0.9, seed=2)
    a = sample_minibatch(g.indptr, g.indices, g.train_ids[:20], [4, 3], np.random.default_rng(5))
    b = sample_minibatch(g.indptr, g.indices, g.train_ids[:20], [4, 3], np.random.default_rng(5))
    assert all(np.array_equal(x.src_nodes, y.src_nodes) for x, y in zip(a.blocks, b.blocks))


@pytest.mark.parametrize("fanouts", [[3], [5, 2], [2, 2, 2]])
def test_blocks_chain(fanouts):
    g = sbm(400, 4, 6.0, 0.9, seed=1)
    mb = sample_minibatch(g.indptr, g.indices, g.train_ids[:16], fanouts, np.random.default_rng(0))
    assert len(mb.blocks) == len(fanouts)
    for inner, outer in zip(mb.blocks[:-1], mb.blocks[1:]):
        assert inner.num_dst == outer.num_src
        assert np.array_equal(inner.src_nodes[:inner.num_dst], outer.src_nodes)
    assert np.array_equal(mb.blocks[-1].src_nodes[:mb.blocks[-1].num_dst], mb.seeds)


def test_sampling_work_counts_hops_draw_rounds_and_the_draws_duplicate_checks():
    """Floyd's draw compares round j's draw with the j taken before it, for each node of
    degree above the fan-out: nb f (f - 1) / 2 checks per hop (brute force over the hops)."""
    from gnnsim.workload.sampler import sampling_work

    g = sbm(2000, 4, 10.0, 0.8, seed=1)
    rng = np.random.default_rng(3)
    fanouts = [6, 3]
    mb = sample_minibatch(g.indptr, g.indices, g.train_ids[:64], fanouts, rng)
    degrees = np.diff(g.indptr)
    checks = sum(int((degrees[b.src_nodes[:b.num_dst]] > f).sum()) * f * (f - 1) / 2
                 for b, f in zip(mb.blocks[::-1], fanouts))
    assert sampling_work(g.indptr, mb, fanouts) == (2, 9, checks) and checks > 0
    # drawing with replacement or taking every neighbour runs no Floyd rounds
    assert sampling_work(g.indptr, mb, fanouts, replace=True) == (2, 0, 0.0)
    assert sampling_work(g.indptr, mb, [None, None]) == (2, 0, 0.0)
