"""Layer-neighbour sampling (LABOR), as GraphBolt's ``sample_layer_neighbor`` runs it.

LABOR (Balin and Catalyurek, "Layer-Neighbor Sampling -- Defusing Neighborhood Explosion
in GNNs", NeurIPS 2023) gives every node ``t`` a hop may reach one random variate ``r_t``
(DGL's ``LaborSampler`` docs: "for every vertex t that will be considered to be sampled,
there will be a single random variate r_t"). GraphBolt's ``LayerNeighborSampler`` keeps,
for each node ``s`` of degree ``d_s``, the ``min(k, d_s)`` neighbours with the smallest
variates (sequential Poisson sampling, the paper's Appendix A.3: a fixed count per node,
a drop-in for the neighbour sampler). The nodes of a hop share the neighbours whose
variates are small, so a hop reaches fewer distinct nodes than independent draws do:
GraphBolt prints 247,243 inputs per batch for ogbn-products, [10, 10, 10], batch 1024,
against 517,522 with the neighbour sampler (``../shared/reference``).

``layer_dependency`` (GraphBolt's option) draws one variate per node for all hops of a
batch instead of one per hop. ``batch_dependency`` correlates the variates of
consecutive batches; it changes which nodes successive batches share (cache hits), not a
batch's counts, and is not modelled.

Variates are a hash of the node id and a per-hop salt (SplitMix64's finaliser), so only
the nodes a hop touches get one, whatever the graph's size. Every neighbour of a node
with more than ``k`` neighbours is examined (its variate computed and compared): that is
the sampler's work beyond the nodes and edges it keeps (:attr:`MiniBatch.examined`).
"""

from __future__ import annotations

import numpy as np

from gnnsim.workload.sampler import MiniBatch, all_neighbors, segment_arange, to_block

CANDIDATE_FACTOR = 3.0  # neighbours with r_t <= 3k / d_s are sorted; the k smallest are among them but rarely


def variates(nodes: np.ndarray, salt: int) -> np.ndarray:
    """``r_t`` in [0, 1) for each node id: SplitMix64's finaliser of ``t + salt``, top 53 bits.

    >>> r = variates(np.arange(4), 7)
    >>> bool(((r >= 0) & (r < 1)).all()), bool(variates(np.array([2]), 7)[0] == r[2])
    (True, True)
    """
    z = nodes.astype(np.uint64) + np.uint64(salt)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _smallest(owner: np.ndarray, r: np.ndarray, fanout: int) -> np.ndarray:
    """Positions of the ``fanout`` smallest ``r`` of each owner run (``owner`` ascending)."""
    key = owner.astype(np.int64) << np.int64(32)
    key |= (r * 4294967295.0).astype(np.int64)  # ties below 2^-32 are broken by position
    order = np.argsort(key, kind="stable")
    runs = owner[order]
    first = np.searchsorted(runs, runs, side="left")
    return order[(np.arange(order.size) - first) < fanout]


def labor_neighbors(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, fanout: int,
                    salt: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(owner, neighbor, examined)`` like :func:`~gnnsim.workload.sampler.sample_neighbors`:
    each node keeps its ``fanout`` neighbours of smallest variate (all of them when it has
    at most ``fanout``); ``examined`` counts the neighbours whose variate was compared.

    >>> indptr, indices = np.array([0, 3, 4, 6, 8]), np.array([1, 2, 3, 0, 0, 3, 0, 2])
    >>> owner, nbr, examined = labor_neighbors(indptr, indices, np.array([0, 1]), 2, salt=5)
    >>> owner.tolist(), examined
    ([1, 0, 0], 3)
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    start = indptr[nodes].astype(np.int64)
    deg = indptr[nodes + 1].astype(np.int64) - start
    small = np.flatnonzero(deg <= fanout)
    owner_small = np.repeat(small, deg[small])
    nbr_small = indices[segment_arange(start[small], deg[small])].astype(np.int64)
    big = np.flatnonzero(deg > fanout)
    if big.size == 0:
        return owner_small, nbr_small, 0
    owner = np.repeat(big, deg[big])
    nbr = indices[segment_arange(start[big], deg[big])].astype(np.int64)
    r = variates(nbr, salt)
    candidate = r <= CANDIDATE_FACTOR * fanout / np.repeat(deg[big], deg[big])
    short = np.bincount(owner[candidate], minlength=nodes.size)[big] < fanout  # too few candidates: sort all
    candidate |= np.repeat(short, deg[big])
    picked = np.flatnonzero(candidate)[_smallest(owner[candidate], r[candidate], fanout)]
    return (np.concatenate([owner_small, owner[picked]]), np.concatenate([nbr_small, nbr[picked]]),
            int(deg[big].sum()))


def labor_minibatch(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, fanouts: list[int | None],
                    rng: np.random.Generator, layer_dependency: bool = False) -> MiniBatch:
    """One LABOR mini-batch: ``len(fanouts)`` hops from ``seeds`` (hop-from-seed first);
    a fan-out of ``None`` takes every neighbour."""
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    salts = rng.integers(0, 2**63, size=len(fanouts))
    if layer_dependency:
        salts[:] = salts[0]
    frontier, blocks, examined = seeds, [], 0
    for fanout, salt in zip(fanouts, salts):
        if fanout is None:
            owner, neighbor = all_neighbors(indptr, indices, frontier)
        else:
            owner, neighbor, seen = labor_neighbors(indptr, indices, frontier, int(fanout), int(salt))
            examined += seen
        block = to_block(frontier, owner, neighbor, indptr.size - 1)
        blocks.append(block)
        frontier = block.src_nodes
    return MiniBatch(seeds, blocks[::-1], examined=examined)
