"""scipy's compiled CSR passes of a chunked build split over a worker pool, byte for byte
what one call writes.

scipy's transpose (``csr_tocsc``) and its merge of two sorted CSRs (``csr_plus_csr``) run
in one thread. For the transpose each worker owns a range of *output* rows: it copies the
entries that fall in its range (in their order, so each row's order is one call's; the
entries left out tell where its rows start) and runs scipy's counting pass
(``coo_tocsr``) on them into its own slice of the shared output. Ranges are cut at
quantiles of a sample of the ids, so the workers get about as many entries each. A merge
is split by blocks of rows, each written after the room both inputs' rows take, then
moved left in order. Arrays come from :mod:`gnnsim.graph.chunked_csr`'s ``shared``
dictionary (allocated before the fork).

The first round's ``coo_tocsr`` (pairs into rows) stays one call: split the same way it
did not pay on two cores, copying each range's pairs out costs about what the split
saves (measured in ``docs/architecture.md``, the graph generator's paragraph).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy.sparse import _sparsetools

from gnnsim.graph.csr import row_block_bounds

SAMPLE = 1 << 20  # row ids sampled to cut ranges of about equal entry counts
PIECE = 1 << 22  # entries a worker scans at once (its masks and copies)


def split_points(keys: np.ndarray, n: int, parts: int) -> list[int]:
    """Output-row bounds ``0 = b0 < ... = n`` giving ``parts`` ranges about as many ``keys`` each.

    >>> split_points(np.array([0, 0, 1, 5, 6, 7]), 8, 2)
    [0, 5, 8]
    """
    sample = np.sort(keys[::max(keys.size // SAMPLE, 1)])
    cuts = sample[(np.arange(1, parts) * sample.size) // parts] if sample.size else []
    return np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]]).astype(np.int64)).tolist()


def _select(keys: np.ndarray, c0: int, c1: int, n: int, pieces: list, values) -> tuple[int, np.ndarray, np.ndarray]:
    """Entries whose key (below ``n``) is in ``[c0, c1)``, in order: ``(entries with keys below c0,
    key - c0, value)`` (int32), in one pass. ``pieces`` are ``(start, end, ...)`` spans of ``keys``;
    ``values(piece)`` gives their values. The outputs are sized for every entry scanned but
    only the pages written are ever touched."""
    scanned = sum(e - s for s, e, *_ in pieces)
    rows, cols = np.empty(scanned, dtype=np.int32), np.empty(scanned, dtype=np.int32)
    below = k = above = 0
    for piece in pieces:
        chunk = keys[piece[0]:piece[1]]
        mask = chunk >= c0 if c0 > 0 else np.ones(chunk.size, dtype=bool)
        if c1 < n:
            high = chunk >= c1
            above += int(np.count_nonzero(high))
            mask &= ~high
        got = int(np.count_nonzero(mask))
        np.subtract(chunk[mask], c0, out=rows[k:k + got], casting="unsafe")
        cols[k:k + got] = values(piece)[mask]
        k += got
    below = scanned - k - above if c0 > 0 else 0
    return below, rows[:k], cols[:k]


def _fill(n: int, c0: int, c1: int, below: int, rows: np.ndarray, cols: np.ndarray,
          out: np.ndarray, out_ptr: np.ndarray) -> None:
    """Rows ``c0:c1`` of a CSR from their entries: scipy's counting pass into ``out`` from ``below``."""
    ptr, none = np.empty(c1 - c0 + 1, dtype=np.int32), np.zeros(rows.size, dtype=np.int8)
    _sparsetools.coo_tocsr(c1 - c0, n, rows.size, rows, cols, none, ptr, out[below:below + rows.size], none)
    out_ptr[c0:c1 + 1] = ptr + np.int64(below)  # (the range after writes the same last offset)


def _transpose_range(shared: dict, task: tuple) -> None:
    """Rows ``c0:c1`` of the upper triangle's transpose into ``t``/``t_ptr`` (as ``csr_tocsc``).
    Rows from ``c1`` on hold only ids above ``c1``: they are not read."""
    c0, c1, block = task
    indptr, indices = shared["indptr"], shared["indices"]
    bounds = row_block_bounds(indptr[:c1 + 1], block)
    pieces = [(int(indptr[r0]), int(indptr[r1]), r0, r1) for r0, r1 in pairwise(bounds)]
    below, rows, cols = _select(indices, c0, c1, shared["n"], pieces, lambda p: np.repeat(
        np.arange(p[2], p[3], dtype=np.int32), np.diff(indptr[p[2]:p[3] + 1])))
    _fill(shared["n"], c0, c1, below, rows, cols, shared["t"], shared["t_ptr"])


def transpose(pool, shared: dict, total: int, block: int) -> None:
    """The transpose of the upper triangle (``total`` entries) into ``t_ptr``/``t``, each row's ids
    ascending: one ``csr_tocsc`` call, or ranges of rows over the pool."""
    indices, indptr, n = shared["indices"], shared["indptr"], shared["n"]
    if pool.workers > 1:
        bounds = split_points(indices[:total], n, pool.workers)
        pool.map(_transpose_range, [(c0, c1, block) for c0, c1 in pairwise(bounds)])
        return
    _sparsetools.csr_tocsc(n, n, indptr.astype(np.int32), indices[:total], np.zeros(total, dtype=np.int8),
                           shared["t_ptr"], shared["t"][:total], np.empty(total, dtype=np.int8))


def _merge_block(shared: dict, task: tuple) -> np.ndarray:
    """Rows ``r0:r1`` of the kept rows merged with the new round's (in ``t_ptr``/``t``) into ``out``
    after both inputs' entries before ``r0``; return their offsets from there (int32)."""
    r0, r1 = task
    a_ptr, a, b_ptr, b = shared["indptr"], shared["indices"], shared["t_ptr"], shared["t"]
    a0, a1, b0, b1 = int(a_ptr[r0]), int(a_ptr[r1]), int(b_ptr[r0]), int(b_ptr[r1])
    ones = np.ones(max(a1 - a0, b1 - b0), dtype=np.int8)  # (the merge drops entries whose sum is 0)
    ptr, start, size = np.empty(r1 - r0 + 1, dtype=np.int32), a0 + b0, a1 - a0 + b1 - b0
    _sparsetools.csr_plus_csr(r1 - r0, shared["n"], (a_ptr[r0:r1 + 1] - a0).astype(np.int32), a[a0:a1], ones,
                              (b_ptr[r0:r1 + 1] - b0).astype(np.int32), b[b0:b1], ones,
                              ptr, shared["out"][start:start + size], np.empty(size, dtype=np.int8))
    return ptr


def merge_blocks(pool, shared: dict, block: int) -> int:
    """Merge the sorted rows in ``indices``/``indptr`` with the sorted CSR in ``t_ptr``/``t``, each
    entry once, by blocks of rows over the pool (written into ``out``, then moved back left in
    order); return the new entry count."""
    indices, indptr, out = shared["indices"], shared["indptr"], shared["out"]
    bounds = row_block_bounds(indptr + shared["t_ptr"], block)
    blocks = [(int(r0), int(r1)) for r0, r1 in pairwise(bounds)]
    starts = [int(indptr[r0] + shared["t_ptr"][r0]) for r0, _ in blocks]
    pos = 0
    for (r0, r1), start, ptr in zip(blocks, starts, pool.map(_merge_block, blocks)):
        kept = int(ptr[-1])
        indices[pos:pos + kept] = out[start:start + kept]
        indptr[r0 + 1:r1 + 1] = pos + ptr[1:]
        pos += kept
    return pos
