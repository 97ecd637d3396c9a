"""Seeded synthetic graphs with the structure that makes partitioning matter.

The stochastic block model (SBM) splits nodes into communities; most edges stay inside
a community (``intra_fraction``), so a good partitioner that finds the communities cuts
far fewer edges than a random one, as on real citation and product graphs.
"""

from __future__ import annotations

import numpy as np

from gnnsim.graph.graph import Graph, csr_from_edges, pick_train_ids
from gnnsim.rng import rng_for


def sbm(num_nodes: int, num_communities: int, avg_degree: float, intra_fraction: float, *,
        feature_dim: int = 128, num_classes: int = 8, train_fraction: float = 0.5,
        seed: int | np.random.Generator = 0) -> Graph:
    """Undirected SBM with about ``num_nodes * avg_degree / 2`` distinct edges.

    Each edge picks a uniform source; with probability ``intra_fraction`` its other end
    is uniform within the source's community, otherwise uniform over all nodes.
    Communities are assigned at random (not by id range), and a node's label is its
    community modulo ``num_classes`` so that a real model has something to learn.

    Examples
    --------
    >>> g = sbm(1000, 4, 10.0, 0.9, seed=1)
    >>> g.num_nodes, abs(g.num_edges / g.num_nodes - 10.0) < 0.5
    (1000, True)
    """
    rng = seed if isinstance(seed, np.random.Generator) else rng_for(seed, "graph")
    k = max(1, min(num_communities, num_nodes))
    block = rng.integers(0, k, size=num_nodes)
    order = np.argsort(block, kind="stable")
    sizes = np.bincount(block, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # Draw a little more than needed: duplicates and self loops are removed afterwards.
    m = int(round(num_nodes * avg_degree / 2 * 1.02)) + 1
    src = rng.integers(0, num_nodes, size=m)
    intra = rng.random(m) < intra_fraction
    b = block[src]
    within = order[starts[b] + (rng.random(m) * sizes[b]).astype(np.int64)]
    anywhere = rng.integers(0, num_nodes, size=m)
    dst = np.where(intra, within, anywhere)
    csr = csr_from_edges(src, dst, num_nodes)
    labels = (block % num_classes).astype(np.int64)
    train = pick_train_ids(num_nodes, train_fraction, rng)
    return Graph(csr, feature_dim, num_classes, train, labels, name=f"sbm-{num_nodes}")
