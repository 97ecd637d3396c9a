"""The graph every later step works on: a CSR adjacency plus what training needs.

``Graph.csr`` is a ``scipy.sparse.csr_matrix`` whose row ``v`` lists the neighbours that
node ``v`` aggregates from (its in-neighbours in message-passing terms). Features are not
stored: only their width matters to the cost model, and the real trainer makes each
partition's rows itself, so no process ever holds the whole matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Graph:
    csr: sp.csr_matrix
    feature_dim: int
    num_classes: int
    train_ids: np.ndarray  # int64, sorted
    labels: np.ndarray  # int64 class per node
    name: str = "graph"

    @property
    def num_nodes(self) -> int:
        return int(self.csr.shape[0])

    @property
    def num_edges(self) -> int:
        """Directed edges stored in the CSR (an undirected edge counts twice)."""
        return int(self.csr.nnz)

    @property
    def indptr(self) -> np.ndarray:
        return self.csr.indptr

    @property
    def indices(self) -> np.ndarray:
        return self.csr.indices

    def degrees(self) -> np.ndarray:
        return np.diff(self.csr.indptr)

    def feature_bytes(self, dtype_bytes: int = 4) -> int:
        return self.num_nodes * self.feature_dim * dtype_bytes


def csr_from_edges(src: np.ndarray, dst: np.ndarray, num_nodes: int, *, symmetrize: bool = True,
                   self_loops: bool = False) -> sp.csr_matrix:
    """Build a deduplicated CSR (row = destination, columns = its neighbours) from an edge list.

    >>> csr_from_edges(np.array([0, 1]), np.array([1, 2]), 3).nnz
    4
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if symmetrize:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    if not self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    index_dtype = np.int32 if num_nodes < 2**31 else np.int64
    mat = sp.csr_matrix((np.ones(src.size, dtype=np.float32), (dst.astype(index_dtype), src.astype(index_dtype))),
                        shape=(num_nodes, num_nodes))
    mat.sum_duplicates()
    mat.data[:] = 1.0
    mat.sort_indices()
    return mat


def pick_train_ids(num_nodes: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded sorted subset of ``round(fraction * num_nodes)`` node ids (at least one)."""
    count = max(1, int(round(fraction * num_nodes)))
    return np.sort(rng.choice(num_nodes, size=count, replace=False)).astype(np.int64)
