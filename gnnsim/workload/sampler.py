"""Vectorized neighbour sampling on the real CSR graph.

The sampler is shared by the simulator (which counts what it returns) and by the real
trainer (which trains on it), so both see exactly the same mini-batches.

Fan-outs are given hop-from-seed first (PyG's ``num_neighbors`` order): ``[10, 5]``
takes up to 10 neighbours of each seed, then up to 5 of each node reached. DGL's
``MultiLayerNeighborSampler([5, 10])`` means the same thing, listed input layer first.
The returned blocks are ordered input layer first, the order a model consumes them.

Sampling without replacement uses Floyd's algorithm vectorized across all nodes of a
hop at once: the only Python loop runs over the fan-out positions, never over nodes or
edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Block:
    """One layer's bipartite graph. ``src_nodes[:num_dst]`` are the destination nodes."""

    src_nodes: np.ndarray  # global ids, int64
    num_dst: int
    edge_src: np.ndarray  # index into src_nodes
    edge_dst: np.ndarray  # index into the first num_dst src_nodes

    @property
    def num_src(self) -> int:
        return int(self.src_nodes.size)

    @property
    def num_edges(self) -> int:
        return int(self.edge_src.size)


@dataclass(frozen=True)
class MiniBatch:
    seeds: np.ndarray
    blocks: list[Block]  # input layer first

    @property
    def input_nodes(self) -> np.ndarray:
        return self.blocks[0].src_nodes

    @property
    def num_sampled_edges(self) -> int:
        return sum(b.num_edges for b in self.blocks)

    @property
    def num_sampled_nodes(self) -> int:
        """Nodes whose neighbours were sampled (the destination side of every block)."""
        return sum(b.num_dst for b in self.blocks)


def segment_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + l)`` for every (s, l) pair, without a Python loop.

    >>> segment_arange(np.array([10, 20]), np.array([2, 3])).tolist()
    [10, 11, 20, 21, 22]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(total, dtype=np.int64)


def sample_neighbors(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, fanout: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample up to ``fanout`` distinct neighbours of each node, uniformly without replacement.

    Returns ``(owner, neighbor)``: for each sampled edge, the position of its node in
    ``nodes`` and the global id of the neighbour. Nodes with at most ``fanout``
    neighbours keep all of them.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    small = deg <= fanout
    pos_small = np.flatnonzero(small)
    owner_small = np.repeat(pos_small, deg[pos_small])
    edge_small = segment_arange(start[pos_small], deg[pos_small])

    pos_big = np.flatnonzero(~small)
    nb = pos_big.size
    chosen = np.empty((nb, fanout), dtype=np.int64)
    if nb:
        d = deg[pos_big]
        # Floyd: for t = d-k .. d-1 draw r in [0, t]; take r unless already taken, else t.
        for j in range(fanout):
            t = d - fanout + j
            r = (rng.random(nb) * (t + 1)).astype(np.int64)
            taken = (chosen[:, :j] == r[:, None]).any(axis=1) if j else np.zeros(nb, dtype=bool)
            chosen[:, j] = np.where(taken, t, r)
    owner_big = np.repeat(pos_big, fanout)
    edge_big = (chosen + start[pos_big, None]).ravel()
    owner = np.concatenate([owner_small, owner_big])
    edge = np.concatenate([edge_small, edge_big])
    return owner, indices[edge].astype(np.int64)


def to_block(dst_nodes: np.ndarray, owner: np.ndarray, neighbor: np.ndarray) -> Block:
    """Relabel sampled edges into a block whose sources start with the destinations."""
    combined = np.concatenate([dst_nodes, neighbor])
    uniq, first = np.unique(combined, return_index=True)
    order = np.argsort(first, kind="stable")
    local_of_uniq = np.empty(uniq.size, dtype=np.int64)
    local_of_uniq[order] = np.arange(uniq.size)
    src_nodes = uniq[order]
    edge_src = local_of_uniq[np.searchsorted(uniq, neighbor)]
    return Block(src_nodes, int(dst_nodes.size), edge_src, owner.astype(np.int64))


def sample_minibatch(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, fanouts: list[int],
                     rng: np.random.Generator) -> MiniBatch:
    """Sample one mini-batch: ``len(fanouts)`` hops out from ``seeds`` (hop-from-seed first)."""
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    frontier = seeds
    blocks = []
    for fanout in fanouts:
        owner, neighbor = sample_neighbors(indptr, indices, frontier, fanout, rng)
        block = to_block(frontier, owner, neighbor)
        blocks.append(block)
        frontier = block.src_nodes
    return MiniBatch(seeds, blocks[::-1])


def seed_batches(train_ids: np.ndarray, batch_size: int, num_batches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``num_batches`` batches of a shuffled pass over ``train_ids``, wrapping around when a
    trainer has fewer seeds than the epoch's slowest trainer needs."""
    if train_ids.size == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(num_batches)]
    needed = num_batches * batch_size
    passes = -(-needed // train_ids.size)
    order = np.concatenate([rng.permutation(train_ids) for _ in range(passes)])
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(num_batches)]
