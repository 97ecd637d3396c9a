"""Vertex-cut (edge) partitioners: random-edge, HDRF and 2D grid.

A vertex cut puts every *edge* in one part and copies a node into each part that holds
one of its edges (PowerGraph, Gonzalez et al., OSDI 2012). Its cost is the
**replication factor**: mean copies per node. Power-law graphs cut far better this way
than by nodes, because a hub is copied a few times instead of cutting all its edges.

- ``random-edge``: each edge to a uniformly random part (replication grows fast).
- ``grid2d``: parts form an ``r x c`` grid (the most square factorisation of ``k``);
  every node gets a seeded random cell, and edge ``(u, v)`` goes to the cell in ``u``'s
  row and ``v``'s column, so a node has at most ``r + c - 1`` copies. The orientation of
  an undirected edge is chosen by a seeded coin so both ends share the load.
- ``hdrf``: High-Degree Replicated First (Petroni et al., CIKM 2015). Edge ``(u, v)``
  goes to ``argmax_p C_rep + λ C_bal`` where ``C_rep = g(u, p) + g(v, p)``,
  ``g(u, p) = 1 + (1 - θ_u)`` if ``u`` already has a copy on ``p`` (else 0),
  ``θ_u = δ_u / (δ_u + δ_v)`` from the partial degrees seen so far, and
  ``C_bal = (max size - size_p) / (ε + max size - min size)``. Low-degree ends keep
  their edges together; hubs get replicated.

HDRF is a streaming algorithm. As LDG and Fennel in :mod:`gnnsim.partition.streaming`,
it is run in *batches* of edges for speed: the edges of one batch are scored against
the replica sets, partial degrees and part sizes as of the batch start. Edges of one
batch therefore do not see each other's replicas, and a part can overshoot by up to a
batch. The default batch, ``m / (64 k)`` edges clipped to [64, 65,536], keeps that
overshoot under about 2% of a part; ``batch_size=1`` is the exact algorithm. Edges
stream in a seeded random order.

Every function returns one int32 part per undirected edge of ``graph.undirected_edges()``.
The node owner used for training (most edges, ties to the lowest part) is derived in
:mod:`gnnsim.partition.registry`.
"""

from __future__ import annotations

import numpy as np

from gnnsim.graph.graph import Graph
from gnnsim.partition.registry import register_vertex_cut
from gnnsim.rng import rng_for

HDRF_LAMBDA = 1.0  # balance weight λ; Petroni et al. use λ = 1 in most experiments
HDRF_EPSILON = 1.0  # ε in C_bal, avoids division by zero when all parts are equal
MIN_EDGE_BATCH, MAX_EDGE_BATCH = 64, 65_536
BATCHES_PER_PART = 64  # default batch = m / (64 k): a batch is at most ~1/64 of a part


def grid_shape(num_parts: int) -> tuple[int, int]:
    """The most square ``r x c = k`` (``r <= c``).

    >>> grid_shape(8), grid_shape(9), grid_shape(7)
    ((2, 4), (3, 3), (1, 7))
    """
    r = int(np.floor(np.sqrt(num_parts)))
    while num_parts % r:
        r -= 1
    return r, num_parts // r


@register_vertex_cut("random-edge")
def random_edge_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """Each undirected edge to a uniformly random part (seeded)."""
    rng = rng_for(seed, "partition")
    return rng.integers(0, num_parts, size=graph.symmetric.nnz // 2).astype(np.int32)


@register_vertex_cut("grid2d")
def grid2d_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """2D grid vertex cut: at most ``r + c - 1`` copies of any node (see module docstring)."""
    rng = rng_for(seed, "partition")
    rows, cols = grid_shape(num_parts)
    cell = rng.integers(0, num_parts, size=graph.num_nodes)
    src, dst = graph.undirected_edges()
    flip = rng.random(src.size) < 0.5
    a, b = np.where(flip, dst, src), np.where(flip, src, dst)
    return ((cell[a] // cols) * cols + cell[b] % cols).astype(np.int32)


@register_vertex_cut("hdrf")
def hdrf_partition(graph: Graph, num_parts: int, *, seed: int = 0, lam: float = HDRF_LAMBDA,
                   batch_size: int | None = None) -> np.ndarray:
    """HDRF streaming vertex cut, in batches of edges (see module docstring).

    Examples
    --------
    >>> from gnnsim.graph import chung_lu
    >>> parts = hdrf_partition(chung_lu(500, 6.0, seed=0), 4, seed=0)
    >>> parts.size, int(parts.max())
    (1500, 3)
    """
    rng = rng_for(seed, "partition")
    src, dst = graph.undirected_edges()
    m, k = src.size, num_parts
    if batch_size is None:
        batch_size = int(np.clip(m // (BATCHES_PER_PART * k), MIN_EDGE_BATCH, MAX_EDGE_BATCH))
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(m)
    replicas = np.zeros((graph.num_nodes, k), dtype=bool)
    partial_degree = np.zeros(graph.num_nodes, dtype=np.int64)
    sizes = np.zeros(k, dtype=np.int64)
    parts = np.empty(m, dtype=np.int32)
    for start in range(0, m, batch_size):  # a loop over batches, never over edges
        idx = order[start:start + batch_size]
        u, v = src[idx], dst[idx]
        du, dv = partial_degree[u] + 1.0, partial_degree[v] + 1.0
        theta_u, theta_v = du / (du + dv), dv / (du + dv)
        rep = replicas[u] * (2.0 - theta_u)[:, None] + replicas[v] * (2.0 - theta_v)[:, None]
        bal = (sizes.max() - sizes) / (HDRF_EPSILON + sizes.max() - sizes.min())
        score = rep + lam * bal[None, :] + rng.random(rep.shape) * 1e-9
        choice = np.argmax(score, axis=1).astype(np.int32)
        parts[idx] = choice
        replicas[u, choice] = True
        replicas[v, choice] = True
        np.add.at(partial_degree, u, 1)
        np.add.at(partial_degree, v, 1)
        sizes += np.bincount(choice, minlength=k)
    return parts
