"""The last step of a chunked build: an upper triangle (``u < v``, compact sorted rows) into
the symmetric CSR, each row its mirrored entries (ids below it) then its own upper row.

:func:`mirror_copy` writes a copy from the triangle and its transpose, blocks of rows
over a worker pool, where the copy fits; :func:`symmetrize` does it in place, last rows
first, where it does not (full ogbn-papers100M). ``block`` is the CSR entries a pass
moves at once (:data:`gnnsim.graph.chunked_csr.BLOCK`).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy.sparse import _sparsetools

from gnnsim.graph.csr import add_counts, row_block_bounds
from gnnsim.graph.csr_split import transpose
from gnnsim.progress import Progress

LOW32 = np.int64(0xFFFFFFFF)


def _mirror_block(shared: dict, task: tuple) -> None:
    """Rows ``r0:r1`` of the symmetric CSR into ``out``: each row's mirrored entries (all below
    it: the transpose's row), then its own upper row. Both are sorted and disjoint, so scipy's
    compiled merge of two sorted CSRs (``csr_plus_csr``) writes each row in order."""
    r0, r1 = task
    up_ptr, up, t_ptr, t = shared["indptr"], shared["indices"], shared["t_ptr"], shared["t"]
    a0, a1, b0, b1 = int(t_ptr[r0]), int(t_ptr[r1]), int(up_ptr[r0]), int(up_ptr[r1])
    ones = np.ones(max(a1 - a0, b1 - b0), dtype=np.int8)  # (the merge drops entries whose value is 0)
    start, size = a0 + b0, a1 - a0 + b1 - b0
    _sparsetools.csr_plus_csr(r1 - r0, shared["n"], (t_ptr[r0:r1 + 1] - a0).astype(np.int32), t[a0:a1], ones,
                              (up_ptr[r0:r1 + 1] - b0).astype(np.int32), up[b0:b1], ones,
                              np.empty(r1 - r0 + 1, dtype=np.int32), shared["out"][start:start + size],
                              np.empty(size, dtype=np.int8))


def mirror_copy(pool, shared: dict, p: Progress, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric CSR ``(indptr, indices)`` of the upper triangle (compact, sorted rows),
    written into ``shared["out"]`` from the triangle and its transpose (scipy's compiled
    counting pass, into ``shared["t_ptr"]``, ``shared["t"]``, ranges of rows over the pool:
    :func:`~gnnsim.graph.csr_split.transpose`), blocks of rows over the pool."""
    indptr, t_ptr = shared["indptr"], shared["t_ptr"]
    total = int(indptr[-1])
    transpose(pool, shared, total, block)
    full = indptr + t_ptr  # a row starts after the earlier rows' upper and mirrored entries
    bounds = row_block_bounds(full, block)
    blocks = [(int(r0), int(r1)) for r0, r1 in pairwise(bounds)]
    for (r0, r1), _ in zip(blocks, pool.imap(_mirror_block, blocks)):
        p.update(int(indptr[r1] - indptr[r0]))
    return full, shared["out"][:2 * total]


def symmetrize(indices: np.ndarray, indptr: np.ndarray, n: int, p: Progress, block: int) -> np.ndarray:
    """Turn the upper triangle (compact, sorted rows) into the full symmetric CSR in place; return its indptr.

    Row ``r`` of the result is its mirrored entries (ids below ``r``), then its own upper
    row. Blocks are handled last rows first: an upper row only moves right, and the
    mirror of edge ``(u, v)`` lands in row ``v > u``, past every upper row not yet read.
    (Where a copy fits, :func:`mirror_copy` is quicker.)
    """
    total = int(indptr[-1])
    degree = np.zeros(n, dtype=np.int64)
    for s in range(0, total, block):
        add_counts(degree, indices[s:min(s + block, total)])
    degree += indptr[1:]
    degree -= indptr[:-1]
    full = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=full[1:])
    del degree
    cursor = full[1:] - indptr[1:]  # where each upper row starts in its final place
    cursor += indptr[:-1]
    bounds = row_block_bounds(indptr, block)
    for r0, r1 in zip(bounds[-2::-1], bounds[:0:-1]):
        s, e = int(indptr[r0]), int(indptr[r1])
        if e == s:
            continue
        cols = indices[s:e].copy()
        degree = np.diff(indptr[r0:r1 + 1])
        dst = np.repeat(cursor[r0:r1] - indptr[r0:r1], degree)
        dst += np.arange(s, e, dtype=np.int64)
        indices[dst] = cols
        # Mirrors: (v, u) grouped by v, ascending u; rows are filled from their end backwards.
        key = (cols.astype(np.int64) << 32) | np.repeat(np.arange(r0, r1, dtype=np.int64), degree)
        del cols, dst
        key.sort()
        rows = key >> 32
        starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        lengths = np.diff(np.append(starts, key.size))
        first = rows[starts]
        del rows
        cursor[first] -= lengths
        pos = np.repeat(cursor[first] - starts, lengths)
        pos += np.arange(key.size, dtype=np.int64)
        indices[pos] = (key & LOW32).astype(np.int32)
        p.update(e - s)
    return full
