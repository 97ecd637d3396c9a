"""CSR arrays in the fewest bytes: 32-bit node ids always, 64-bit offsets only when needed.

A graph's adjacency is two arrays: ``indptr`` (one offset per node, plus one) and
``indices`` (one neighbour id per stored edge). Below 2^31 stored edges both fit in 32
bits and the graph is an ordinary ``scipy.sparse.csr_matrix`` (its ``data`` array of
float32 ones is a read-only broadcast of one value: no memory). Above, scipy would widen *both* arrays to
64 bits (it keeps one index dtype per matrix) and add ``data``: full ogbn-papers100M
(3.23 B stored edges) would take 26 GB of ids plus 13 GB of ones. :class:`CompactCSR`
keeps int64 offsets with int32 ids and no ``data``: 12.9 GB of ids plus 0.9 GB of
offsets. It offers what gnnsim reads from a CSR (``indptr``, ``indices``, ``shape``,
``nnz``); sparse algebra on it is refused rather than silently copied to 64 bits.

:func:`make_csr` picks the form, :func:`row_block_bounds` splits rows into blocks of
about equal edge counts (the unit every chunked pass over a CSR works on), and
:func:`rows_matrix` takes a few rows out as a small scipy matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

INT32_MAX = np.iinfo(np.int32).max


class CompactCSR:
    """A square CSR with int64 ``indptr``, int32 ``indices`` and no values (all edges weigh 1).

    >>> c = CompactCSR(np.array([0, 1, 2], dtype=np.int64), np.array([1, 0], dtype=np.int32))
    >>> c.shape, c.nnz, c.indices.dtype.name
    ((2, 2), 2, 'int32')
    """

    has_sorted_indices = True  # built with sorted rows; nothing else makes one
    format = "csr"

    def __init__(self, indptr: np.ndarray, indices: np.ndarray):
        self.indptr = indptr
        self.indices = indices
        n = int(indptr.size - 1)
        self.shape = (n, n)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def sort_indices(self) -> None:
        """Rows are sorted when built (no-op, as scipy's on a sorted matrix)."""

    def getnnz(self, axis: int | None = None):
        return np.diff(self.indptr) if axis == 1 else self.nnz

    def __repr__(self) -> str:
        return f"<CompactCSR {self.shape[0]:,} nodes, {self.nnz:,} stored edges, int64 offsets, int32 ids>"


def make_csr(indptr: np.ndarray, indices: np.ndarray, num_nodes: int) -> sp.csr_matrix | CompactCSR:
    """A scipy CSR in 32 bits when ``nnz`` fits, else a :class:`CompactCSR` (sorted rows assumed).

    The scipy matrix's ``data`` is read-only (all ones, stride 0): products and slices
    work; code that must change values takes a copy (``csr.astype(np.float32)``).
    """
    nnz = int(indptr[-1])
    if nnz <= INT32_MAX and num_nodes <= INT32_MAX:
        ones = np.broadcast_to(np.float32(1.0), (nnz,))  # read-only, no memory: every edge weighs 1
        csr = sp.csr_matrix((ones, indices[:nnz].astype(np.int32, copy=False), indptr.astype(np.int32, copy=False)),
                            shape=(num_nodes, num_nodes), copy=False)
        csr.has_sorted_indices = True
        return csr
    return CompactCSR(indptr.astype(np.int64, copy=False), indices[:nnz])


def row_block_bounds(indptr: np.ndarray, max_entries: int) -> np.ndarray:
    """Row boundaries ``b`` such that rows ``b[i]:b[i+1]`` hold about ``max_entries`` entries
    (a single row longer than that is a block of its own).

    >>> row_block_bounds(np.array([0, 2, 4, 6, 8]), 4).tolist()
    [0, 2, 4]
    """
    n = indptr.size - 1
    total = int(indptr[-1])
    marks = np.searchsorted(indptr, np.arange(max_entries, total, max_entries), side="right") - 1
    bounds = np.unique(np.concatenate([[0], marks, [n]]).astype(np.int64))
    return bounds


def rows_matrix(csr, rows: np.ndarray) -> sp.csr_matrix:
    """Rows ``rows`` of ``csr`` (scipy or compact) as a ``(len(rows), n)`` float32 scipy CSR.

    Costs the selected rows' edges only, whatever the graph's size.
    """
    indptr, indices = csr.indptr, csr.indices
    start = indptr[rows].astype(np.int64)
    length = indptr[rows + 1].astype(np.int64) - start
    sub_ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(length, out=sub_ptr[1:])
    flat = np.repeat(start - sub_ptr[:-1], length) + np.arange(int(sub_ptr[-1]), dtype=np.int64)
    cols = indices[flat].astype(np.int64)
    return sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols, sub_ptr), shape=(rows.size, csr.shape[1]))


def add_counts(counts: np.ndarray, ids: np.ndarray) -> None:
    """``counts[ids] += 1`` with repeats: a bincount when ``ids`` is large next to ``counts``.

    ``counts`` must be int64: ``np.add.at`` has a fast path for it only (on int32 counts
    it is 20-30x slower, measured at 111 M counts).
    """
    if ids.size * 8 >= counts.size:
        counts += np.bincount(ids, minlength=counts.size).astype(counts.dtype, copy=False)
    else:
        np.add.at(counts, ids, 1)
