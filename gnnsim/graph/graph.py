"""The graph every later step works on: a CSR adjacency plus what training needs.

``Graph.csr`` is a ``scipy.sparse.csr_matrix`` whose row ``v`` lists the neighbours that
node ``v`` aggregates from (its in-neighbours in message-passing terms). Features are not
stored: only their width matters to the cost model, and the real trainer makes each
partition's rows itself, so no process ever holds the whole matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from gnnsim.errors import GraphFormatError
from gnnsim.graph.csr import CompactCSR


@dataclass(frozen=True)
class Graph:
    csr: sp.csr_matrix | CompactCSR  # CompactCSR above 2^31 stored edges (gnnsim.graph.csr)
    feature_dim: int
    num_classes: int
    train_ids: np.ndarray  # int64, sorted
    labels: np.ndarray  # int64 class per node
    name: str = "graph"
    cache_key: str | None = None  # names the cached build (gnnsim.cache), so partitions of it can be cached too
    undirected: bool = False  # csr is known symmetric, loop-free and sorted (generators): it is its own symmetric view

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

    @cached_property
    def symmetric(self) -> sp.csr_matrix:
        """The undirected adjacency (union with the transpose, no self loops), computed once.

        Partitioners and metrics that reason about "neighbours" use this view; for a graph
        read with ``symmetrize=True`` (the default everywhere) it equals ``csr`` minus loops.
        A generated graph (``undirected``) is already that view and is returned as is: no copy.
        """
        if self.undirected:
            return self.csr
        if isinstance(self.csr, CompactCSR):
            raise GraphFormatError(f"{self.name}: a {self.num_edges:,}-edge graph that is not known to be undirected "
                                   "has no symmetric view here (it would need a 64-bit copy)")
        return symmetric_pattern(self.csr)

    def undirected_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Each undirected edge once, as ``(u, v)`` with ``u < v``, sorted by ``(u, v)``.

        This is the edge list vertex-cut partitioners assign; its length is ``nnz / 2`` of
        :attr:`symmetric`.
        """
        if isinstance(self.csr, CompactCSR):
            raise GraphFormatError(f"{self.name}: {self.num_edges:,} stored edges are too many for an edge list "
                                   "(16 bytes per edge); vertex-cut partitioners need a smaller graph (graph.scale)")
        upper = sp.triu(self.symmetric, k=1).tocsr()
        rows = np.repeat(np.arange(self.num_nodes, dtype=np.int64), np.diff(upper.indptr))
        return rows, upper.indices.astype(np.int64)


def symmetric_pattern(csr: sp.csr_matrix) -> sp.csr_matrix:
    """``csr`` OR its transpose as a 0/1 float32 CSR with sorted indices and no self loops.

    >>> symmetric_pattern(sp.csr_matrix(np.array([[0, 1], [0, 1]]))).toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    pattern = csr.astype(bool).astype(np.float32)
    sym = (pattern + pattern.T).tocsr()
    sym.setdiag(0)
    sym.eliminate_zeros()
    sym.data[:] = 1.0
    sym.sort_indices()
    return sym


def csr_from_undirected_pairs(u: np.ndarray, v: np.ndarray, num_nodes: int) -> sp.csr_matrix:
    """Symmetric CSR from distinct undirected pairs ``u < v`` sorted by ``(u, v)``.

    The fast path of the generators: no duplicate summing and no index sorting is needed,
    because the upper triangle arrives sorted and the transpose of a CSR is sorted too.

    >>> csr_from_undirected_pairs(np.array([0, 1]), np.array([1, 2]), 3).toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    index_dtype = np.int32 if num_nodes < 2**31 else np.int64
    counts = np.bincount(u, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    upper = sp.csr_matrix((np.ones(u.size, dtype=np.float32), v.astype(index_dtype), indptr.astype(index_dtype)),
                          shape=(num_nodes, num_nodes))
    upper.has_sorted_indices = True
    full = (upper + upper.T.tocsr()).tocsr()
    full.sort_indices()
    return full


def csr_from_edges(src: np.ndarray, dst: np.ndarray, num_nodes: int, *, symmetrize: bool = True,
                   self_loops: bool = False, dedup: bool = True) -> sp.csr_matrix:
    """Build a CSR (row = destination, columns = its neighbours) from an edge list.

    ``symmetrize`` adds the reverse of every edge; ``self_loops=False`` drops ``v -> v``;
    ``dedup=True`` keeps one copy of a repeated edge (``dedup=False`` keeps every copy as
    a parallel edge, so ``nnz`` counts them all).

    >>> csr_from_edges(np.array([0, 1]), np.array([1, 2]), 3).nnz
    4
    >>> csr_from_edges(np.array([0, 0]), np.array([1, 1]), 2, symmetrize=False, dedup=False).nnz
    2
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if symmetrize:  # the reverse of a self loop is itself: do not add it twice
        proper = src != dst
        src, dst = np.concatenate([src, dst[proper]]), np.concatenate([dst, src[proper]])
    if not self_loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    index_dtype = np.int32 if num_nodes < 2**31 else np.int64
    if not dedup:
        order = np.lexsort((src, dst))
        indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=num_nodes), out=indptr[1:])
        mat = sp.csr_matrix((np.ones(src.size, dtype=np.float32), src[order].astype(index_dtype),
                             indptr.astype(index_dtype)), shape=(num_nodes, num_nodes))
        mat.has_sorted_indices = True
        return mat
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
