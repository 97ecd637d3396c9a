"""Vectorized neighbour sampling on the real CSR graph.

The sampler is shared by the simulator (which counts what it returns) and by the real
trainer (which trains on it), so both see exactly the same mini-batches.

Fan-outs are given hop-from-seed first (PyG's ``num_neighbors`` order): ``[10, 5]``
takes up to 10 neighbours of each seed, then up to 5 of each node reached. DGL's
``MultiLayerNeighborSampler([5, 10])`` means the same thing, listed input layer first.
The returned blocks are ordered input layer first, the order a model consumes them.

Sampling without replacement uses Floyd's algorithm vectorized across all nodes of a
hop at once: the only Python loop runs over the fan-out positions, never over nodes or
edges. With replacement (``replace=True``, DGL's ``replace=True``) every node with at
least one neighbour gets exactly ``fanout`` independent uniform draws, so an edge can
appear twice in a block. A fan-out of ``None`` takes every neighbour (full-neighbourhood
"sampling"); :func:`full_minibatch` does that for all hops.

Relabelling sampled neighbours into block-local ids uses a reusable global-id ->
local-id integer array (32-bit, one per thread) instead of a sort-based ``np.unique``:
the work is linear in the sampled edges. The local order is the same as before
(destinations first, then new sources in order of first appearance), so the batches
are bit-identical to the sort-based version. Floyd's draws are kept column by column
(one contiguous pass per earlier position), which gives the same draws as one row per
node in a fraction of the time.
"""

from __future__ import annotations

import threading
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
    # cluster-gcn: every layer uses the same induced subgraph, built once
    shared_blocks: bool = False
    # PyG's sampling (workload.frameworks.pyg_minibatch): hop h expanded only the nodes hop
    # h - 1 added, the first ones of its destinations are not sampled from again
    frontier_only: bool = False
    # LABOR (workload.labor): neighbours whose random variate was compared, every hop
    examined: int = 0

    @property
    def input_nodes(self) -> np.ndarray:
        return self.blocks[0].src_nodes

    @property
    def output_nodes(self) -> np.ndarray:
        """Rows the model outputs: the destinations of the last block (the seeds, unless
        cluster-gcn, where every node of the batch is an output and only seeds are scored)."""
        last = self.blocks[-1]
        return last.src_nodes[:last.num_dst]

    @property
    def num_sampled_edges(self) -> int:
        if self.shared_blocks:
            return self.blocks[0].num_edges
        return sum(b.num_edges for b in self.blocks)

    @property
    def num_sampled_nodes(self) -> int:
        """Nodes whose neighbours were sampled (the destination side of every block)."""
        if self.shared_blocks:
            return self.blocks[0].num_dst
        if self.frontier_only:  # every node within L - 1 hops was expanded once
            return self.blocks[0].num_dst
        return sum(b.num_dst for b in self.blocks)

    @property
    def nodes_per_hop(self) -> list[int]:
        """Unique nodes reached after each hop, hop-from-seed first: ``[seeds, hop 1, hop 2, ...]``."""
        return [int(self.blocks[-1].num_dst)] + [b.num_src for b in self.blocks[::-1]]


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


def all_neighbors(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every neighbour of each node, as ``(owner, neighbor)`` like :func:`sample_neighbors`.

    >>> indptr, indices = np.array([0, 2, 3, 3]), np.array([1, 2, 0])
    >>> [a.tolist() for a in all_neighbors(indptr, indices, np.array([1, 0]))]
    [[0, 1, 1], [0, 1, 2]]
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    owner = np.repeat(np.arange(nodes.size, dtype=np.int64), deg)
    return owner, indices[segment_arange(start, deg)].astype(np.int64)


def sample_with_replacement(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, fanout: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``fanout`` independent uniform draws of a neighbour for every node that has one.

    Nodes without neighbours get none; a neighbour may be drawn more than once.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    pos = np.flatnonzero(deg > 0)
    offsets = (rng.random((pos.size, fanout)) * deg[pos, None]).astype(np.int64)
    owner = np.repeat(pos, fanout)
    return owner, indices[(offsets + start[pos, None]).ravel()].astype(np.int64)


def sample_neighbors(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, fanout: int | None,
                     rng: np.random.Generator, replace: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sample up to ``fanout`` distinct neighbours of each node, uniformly without replacement.

    Returns ``(owner, neighbor)``: for each sampled edge, the position of its node in
    ``nodes`` and the global id of the neighbour. Nodes with at most ``fanout``
    neighbours keep all of them. ``replace=True`` draws with replacement instead
    (:func:`sample_with_replacement`); ``fanout=None`` takes every neighbour.
    """
    if fanout is None:
        return all_neighbors(indptr, indices, nodes)
    if replace:
        return sample_with_replacement(indptr, indices, nodes, fanout, rng)
    nodes = np.asarray(nodes, dtype=np.int64)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    small = deg <= fanout
    pos_small = np.flatnonzero(small)
    owner_small = np.repeat(pos_small, deg[pos_small])
    edge_small = segment_arange(start[pos_small], deg[pos_small])

    pos_big = np.flatnonzero(~small)
    nb = pos_big.size
    edge_big = np.zeros(0, dtype=np.int64)
    if nb:
        chosen = _floyd(deg[pos_big], fanout, rng)
        edge_big = (chosen.T + start[pos_big, None]).ravel()
    owner_big = np.repeat(pos_big, fanout)
    owner = np.concatenate([owner_small, owner_big])
    edge = np.concatenate([edge_small, edge_big])
    return owner, indices[edge].astype(np.int64)


def _floyd(d: np.ndarray, fanout: int, rng: np.random.Generator) -> np.ndarray:
    """``fanout`` distinct offsets in ``[0, d)`` for every degree in ``d`` (all above
    ``fanout``), as a ``(fanout, len(d))`` array: Floyd's algorithm, one pass per position.

    For t = d-k .. d-1 draw r in [0, t]; take r unless already taken, else t. The
    columns hold 32-bit offsets (a node's degree fits) and are compared one at a time, so
    each pass touches contiguous memory; the draws are the same as one row per node.
    """
    nb = d.size
    chosen = np.empty((fanout, nb), dtype=np.int32 if d.max() < 2**31 else np.int64)
    taken = np.empty(nb, dtype=bool)
    same = np.empty(nb, dtype=bool)
    for j in range(fanout):
        t = d - fanout + j
        r = (rng.random(nb) * (t + 1)).astype(chosen.dtype)
        taken.fill(False)
        for c in range(j):
            np.equal(chosen[c], r, out=same)
            taken |= same
        chosen[j] = np.where(taken, t, r)
    return chosen


class _Scratch(threading.local):
    """A per-thread reusable array indexed by global node id (all -1 between uses); 32-bit
    while node ids fit, so the random reads of a hop stay in cache twice as often."""

    def __init__(self) -> None:
        self.local = np.zeros(0, dtype=np.int32)

    def array(self, size: int) -> np.ndarray:
        if self.local.size < size:
            self.local = np.full(size, -1, dtype=np.int32 if size < 2**31 else np.int64)
        return self.local


_SCRATCH = _Scratch()


def to_block(dst_nodes: np.ndarray, owner: np.ndarray, neighbor: np.ndarray, num_nodes: int | None = None) -> Block:
    """Relabel sampled edges into a block whose sources start with the destinations.

    ``dst_nodes`` must be distinct. Sources are the destinations, then every other
    neighbour in order of first appearance. ``num_nodes`` (the graph's, when known)
    bounds the ids and saves a pass over them.

    >>> b = to_block(np.array([7, 3]), np.array([0, 0, 1, 1]), np.array([3, 9, 5, 9]))
    >>> b.src_nodes.tolist(), b.edge_src.tolist()
    ([7, 3, 9, 5], [1, 2, 3, 2])
    """
    dst_nodes = np.asarray(dst_nodes, dtype=np.int64)
    neighbor = np.asarray(neighbor, dtype=np.int64)
    size = num_nodes if num_nodes is not None else int(max(dst_nodes.max(initial=-1), neighbor.max(initial=-1))) + 1
    local = _SCRATCH.array(size)
    nd = dst_nodes.size
    local[dst_nodes] = np.arange(nd, dtype=local.dtype)
    touched = np.zeros(0, dtype=np.int64)  # ids whose entry holds a mark or a local id
    try:
        edge_src = local[neighbor]
        is_new = edge_src < 0
        new = neighbor[is_new]
        positions = np.arange(new.size, dtype=local.dtype)
        # Mark each new id with -2 - (its first position in ``new``): written back to front,
        # so for a repeated id the first position is written last and stays (numpy assigns
        # repeated indices in order). Checked below, with the sort-based relabel as the
        # fallback should that order ever not hold.
        touched = new
        local[new[::-1]] = -2 - positions[::-1]
        won = -2 - local[new]
        if not (won <= positions).all():
            return _to_block_sorted(dst_nodes, owner, neighbor)
        fresh = new[won == positions]
        local[fresh] = nd + np.arange(fresh.size, dtype=local.dtype)
        edge_src[is_new] = local[new]
    finally:
        local[dst_nodes] = -1
        local[touched] = -1
    src_nodes = np.concatenate([dst_nodes, fresh])
    return Block(src_nodes, int(nd), edge_src.astype(np.int64), np.asarray(owner, dtype=np.int64))


def _to_block_sorted(dst_nodes: np.ndarray, owner: np.ndarray, neighbor: np.ndarray) -> Block:
    """The sort-based relabel (``np.unique``); the reference :func:`to_block` must match."""
    combined = np.concatenate([dst_nodes, neighbor])
    uniq, first = np.unique(combined, return_index=True)
    order = np.argsort(first, kind="stable")
    local_of_uniq = np.empty(uniq.size, dtype=np.int64)
    local_of_uniq[order] = np.arange(uniq.size)
    src_nodes = uniq[order]
    edge_src = local_of_uniq[np.searchsorted(uniq, neighbor)]
    return Block(src_nodes, int(dst_nodes.size), edge_src, owner.astype(np.int64))


def sample_minibatch(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, fanouts: list[int | None],
                     rng: np.random.Generator, replace: bool = False) -> MiniBatch:
    """Sample one mini-batch: ``len(fanouts)`` hops out from ``seeds`` (hop-from-seed first).

    A fan-out of ``None`` takes every neighbour of that hop; ``replace`` samples with
    replacement.
    """
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    frontier = seeds
    blocks = []
    for fanout in fanouts:
        owner, neighbor = sample_neighbors(indptr, indices, frontier, fanout, rng, replace)
        block = to_block(frontier, owner, neighbor, indptr.size - 1)
        blocks.append(block)
        frontier = block.src_nodes
    return MiniBatch(seeds, blocks[::-1])


def sampling_work(indptr: np.ndarray, mb: MiniBatch, fanouts: list[int | None], replace: bool = False) -> tuple[int, int, float]:
    """What :func:`sample_minibatch` does beyond its nodes and edges, which its time follows
    too: ``(hops, draws, checks)``. Every hop is a fixed run of numpy passes; a hop that
    samples without replacement draws ``fanout`` rounds (one pass over its high-degree
    nodes each, Floyd's algorithm in :func:`sample_neighbors`), and round j compares each
    draw with the j taken before it: ``nb f (f - 1) / 2`` checks for nb nodes of degree
    above f. A cluster-GCN batch (one induced subgraph) is one hop with neither; a LABOR
    batch draws nothing and makes one check per examined neighbour (:mod:`gnnsim.workload.labor`).

    >>> indptr = np.array([0, 3, 4, 6, 8])  # degrees 3, 1, 2, 2
    >>> mb = sample_minibatch(indptr, np.array([1, 2, 3, 0, 0, 3, 0, 2]), np.array([0]), [2, 1], np.random.default_rng(0))
    >>> sampling_work(indptr, mb, [2, 1])[:2]
    (2, 3)
    """
    if mb.shared_blocks:
        return 1, 0, 0.0
    if mb.examined:  # LABOR: no draws, one comparison per examined neighbour
        return len(mb.blocks), 0, float(mb.examined)
    draws, checks, expanded = 0, 0.0, 0
    for block, fanout in zip(mb.blocks[::-1], fanouts):  # hop-from-seed first
        start, expanded = (expanded if mb.frontier_only else 0), block.num_dst
        if fanout is None or replace:
            continue
        dst = block.src_nodes[start:block.num_dst]  # (the hop's own nodes only: a graph-wide diff per batch is O(N))
        big = int((indptr[dst + 1] - indptr[dst] > fanout).sum())
        draws += int(fanout)
        checks += big * fanout * (fanout - 1) / 2.0
    return len(mb.blocks), draws, checks


def seed_batches(train_ids: np.ndarray, batch_size: int, num_batches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``num_batches`` batches of a shuffled pass over ``train_ids``, wrapping around when a
    trainer has fewer seeds than the epoch's slowest trainer needs."""
    if train_ids.size == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(num_batches)]
    needed = num_batches * batch_size
    passes = -(-needed // train_ids.size)
    order = np.concatenate([rng.permutation(train_ids) for _ in range(passes)])
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(num_batches)]


def full_minibatch(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, num_layers: int) -> MiniBatch:
    """A mini-batch with every neighbour at every hop (no sampling, no randomness)."""
    return sample_minibatch(indptr, indices, seeds, [None] * num_layers, np.random.default_rng(0))


def induced_minibatch(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, seeds: np.ndarray,
                      num_layers: int) -> MiniBatch:
    """Cluster-GCN: the subgraph induced by ``nodes``, the same block for every layer.

    Every node of the batch is a destination (``src_nodes == nodes`` in the given
    order); ``seeds`` (a subset of ``nodes``) are the rows the loss is taken on.
    Edges leave the batch nowhere: a neighbour outside ``nodes`` is dropped.

    >>> indptr, indices = np.array([0, 1, 3, 4]), np.array([1, 0, 2, 1])  # path 0-1-2
    >>> mb = induced_minibatch(indptr, indices, np.array([0, 1]), np.array([0]), 2)
    >>> mb.blocks[0].edge_src.tolist(), mb.blocks[0].edge_dst.tolist(), mb.num_sampled_edges
    ([1, 0], [0, 1], 2)
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    owner, neighbor = all_neighbors(indptr, indices, nodes)
    local = _SCRATCH.array(int(indptr.size - 1))
    local[nodes] = np.arange(nodes.size, dtype=np.int64)
    try:
        src = local[neighbor]
    finally:
        local[nodes] = -1
    keep = src >= 0
    block = Block(nodes, int(nodes.size), src[keep], owner[keep])
    return MiniBatch(np.asarray(seeds, dtype=np.int64), [block] * num_layers, shared_blocks=True)
