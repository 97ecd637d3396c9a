"""The built-in node partitioners: random and METIS (pymetis)."""

from __future__ import annotations

import numpy as np
import pymetis

from gnnsim.graph.graph import Graph
from gnnsim.partition.registry import register
from gnnsim.rng import rng_for


@register("random")
def random_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """Each node goes to a uniformly random part (seeded), as DGL's ``part_method='random'``."""
    rng = rng_for(seed, "partition")
    return rng.integers(0, num_parts, size=graph.num_nodes).astype(np.int32)


@register("metis")
def metis_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """METIS k-way edge-cut minimisation with node-count balance (pymetis)."""
    if num_parts == 1:
        return np.zeros(graph.num_nodes, dtype=np.int32)
    csr = graph.csr
    # METIS needs a symmetric graph; the union with the transpose is a no-op when it already is.
    sym = (csr + csr.T).tocsr()
    sym.setdiag(0)
    sym.eliminate_zeros()
    _, membership = pymetis.part_graph(num_parts, xadj=sym.indptr.astype(np.int64), adjncy=sym.indices.astype(np.int64),
                                       options=pymetis.Options(seed=seed))
    return np.asarray(membership, dtype=np.int32)
