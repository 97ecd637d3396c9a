"""The torch sampler of GPU and UVA sampling (gnnsim.realrun.gpu_sampling), run here on CPU
tensors: the same kernels run on CUDA. Checked against the graph itself: every sampled
edge exists, fan-outs hold, no neighbour is taken twice without replacement."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gnnsim.realrun import gpu_sampling as gs  # noqa: E402


def random_csr(num_nodes: int, avg_degree: int, seed: int):
    """A directed random graph with some high-degree hubs, as (indptr, indices) int64 tensors."""
    rng = np.random.default_rng(seed)
    deg = rng.poisson(avg_degree, num_nodes)
    deg[: num_nodes // 20] += 40  # hubs, well above every fan-out
    indptr = np.concatenate([[0], np.cumsum(deg)]).astype(np.int64)
    rows = [rng.choice(num_nodes, size=d, replace=False) for d in deg]  # distinct neighbours per node
    indices = np.concatenate(rows).astype(np.int64)
    return torch.from_numpy(indptr), torch.from_numpy(indices)


def neighbor_sets(indptr, indices):
    ip, ix = indptr.numpy(), indices.numpy()
    return [set(ix[ip[v]:ip[v + 1]].tolist()) for v in range(ip.size - 1)]


@pytest.mark.parametrize("replace", [False, True])
def test_blocks_are_edges_of_the_graph_within_fanout(replace):
    indptr, indices = random_csr(600, 6, 1)
    nbrs = neighbor_sets(indptr, indices)
    seeds = torch.tensor([5, 3, 3, 0, 17, 250, 599])
    fanouts = [10, 4]
    mb = gs.sample_minibatch(indptr, indices, seeds, fanouts, torch.Generator().manual_seed(3), replace)
    assert mb.seeds.tolist() == [0, 3, 5, 17, 250, 599]  # sorted unique, as the numpy sampler
    assert len(mb.blocks) == 2
    for block, fanout in zip(mb.blocks[::-1], fanouts):  # hop-from-seed first
        src = block.src_nodes.numpy()
        assert np.unique(src).size == src.size  # relabelled: every source once
        dst_ids, src_ids = src[block.edge_dst.numpy()], src[block.edge_src.numpy()]
        assert all(s in nbrs[d] for d, s in zip(dst_ids, src_ids))  # every sampled edge exists
        per_dst = np.bincount(block.edge_dst.numpy(), minlength=block.num_dst)
        degree = np.array([len(nbrs[d]) for d in src[:block.num_dst]])
        if replace:
            assert (per_dst == np.where(degree > 0, fanout, 0)).all()
        else:
            assert (per_dst == np.minimum(degree, fanout)).all()
            pairs = set(zip(dst_ids.tolist(), src_ids.tolist()))
            assert len(pairs) == block.num_edges  # no neighbour twice
    assert mb.blocks[1].src_nodes.tolist() == mb.blocks[0].src_nodes[:mb.blocks[0].num_dst].tolist()
    assert mb.blocks[-1].src_nodes[:mb.blocks[-1].num_dst].tolist() == mb.seeds.tolist()
    assert mb.num_sampled_edges == sum(b.num_edges for b in mb.blocks)


def test_sources_in_order_of_first_appearance():
    b = gs.to_block(torch.tensor([4, 1]), torch.tensor([0, 0, 0, 1, 1]), torch.tensor([9, 1, 7, 9, 2]))
    assert b.src_nodes.tolist() == [4, 1, 9, 7, 2]
    assert b.edge_src.tolist() == [2, 1, 3, 2, 4] and b.edge_dst.tolist() == [0, 0, 0, 1, 1]


def test_without_replacement_is_uniform():
    """One node of degree 8, fan-out 3, 4000 draws: each neighbour is taken 3/8 of the time."""
    indptr, indices = torch.tensor([0, 8]), torch.arange(10, 18)
    gen = torch.Generator().manual_seed(0)
    counts = np.zeros(18)
    for _ in range(4000):
        _, nb = gs.sample_neighbors(indptr, indices, torch.tensor([0]), 3, gen)
        assert np.unique(nb.numpy()).size == 3
        counts[nb.numpy()] += 1
    freq = counts[10:] / 4000
    assert np.abs(freq - 3 / 8).max() < 0.04  # binomial sd 0.0077


def test_empty_and_low_degree_nodes():
    indptr, indices = torch.tensor([0, 0, 2, 2]), torch.tensor([0, 2])
    owner, nb = gs.sample_neighbors(indptr, indices, torch.tensor([0, 1, 2]), 5, torch.Generator().manual_seed(0))
    assert owner.tolist() == [1, 1] and sorted(nb.tolist()) == [0, 2]
    owner, nb = gs.sample_neighbors(indptr, indices, torch.tensor([0, 2]), 5, torch.Generator(), replace=True)
    assert owner.numel() == 0 and nb.numel() == 0


def test_full_fanout_is_refused():
    with pytest.raises(ValueError, match="positive fan-outs"):
        gs.sample_minibatch(torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([0]), [None],
                            torch.Generator())
