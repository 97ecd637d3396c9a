"""scipy's compiled CSR passes of a chunked build split over a worker pool, byte for byte
what one call writes.

scipy's counting pass (``coo_tocsr``), transpose (``csr_tocsc``) and merge of two sorted
CSRs (``csr_plus_csr``) run in one thread. For the transpose each worker owns a range of *output* rows: it copies the
entries that fall in its range (in their order, so each row's order is one call's; the
entries left out tell where its rows start) and runs scipy's counting pass
(``coo_tocsr``) on them into its own slice of the shared output. Ranges are cut at
quantiles of a sample of the ids, so the workers get about as many entries each.

A kept round's pairs (:func:`sort_merge_halves`) are split otherwise: copying each
range's pairs out cost about what a range split saved (measured in
``docs/architecture.md``, the graph generator's paragraph). Each half of the pairs is
written into its own CSR in place (``coo_tocsr`` on a slice: nothing copied), then
blocks of rows sort both halves' rows, drop repeats and merge them (``csr_plus_csr``),
with the rows kept from earlier rounds, each block written after the room its inputs
take in a copy, then moved back left in order. Arrays come from
:mod:`gnnsim.graph.chunked_csr`'s ``shared`` dictionary (allocated before the fork).
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


def _place_half(shared: dict, task: tuple) -> None:
    """Pairs ``s:e`` into rows of their own CSR in ``shared[name][s:e]``, unsorted, its offsets
    (int32) into slot ``slot`` of ``half_ptr`` (shared: nothing large is sent back)."""
    s, e, name, slot = task
    n = shared["n"]
    none = np.zeros(e - s, dtype=np.int8)  # (the values scipy carries: all zero)
    _sparsetools.coo_tocsr(n, n, e - s, shared["lo"][s:e], shared["hi"][s:e], none,
                           shared["half_ptr"][slot], shared[name][s:e], none)


def _merge(n: int, rows: int, a: tuple, b: tuple, out: np.ndarray) -> np.ndarray:
    """scipy's merge of two sorted CSRs ``(offsets int32, ids)``, each entry once, into ``out``; return its offsets."""
    ones = np.ones(max(a[1].size, b[1].size), dtype=np.int8)  # (the merge drops entries whose sum is 0)
    ptr = np.empty(rows + 1, dtype=np.int32)
    _sparsetools.csr_plus_csr(rows, n, a[0], a[1], ones, b[0], b[1], ones, ptr, out,
                              np.empty(out.size, dtype=np.int8))
    return ptr


def _sort_merge_block(shared: dict, task: tuple) -> int:
    """Rows ``r0:r1`` of both halves sorted and deduplicated in place, merged (with the kept rows
    of ``indices``/``indptr`` if ``kept``) into ``out`` from ``start``; the merged rows' offsets
    from there go to ``half_ptr[2][r0 + 1:r1 + 1]``; return their entry count."""
    r0, r1, name, h, start, kept = task
    n, rows = shared["n"], []
    for base, ptr in ((0, shared["half_ptr"][0][r0:r1 + 1]), (h, shared["half_ptr"][1][r0:r1 + 1])):
        ap = ptr - ptr[0]  # (int32: the half's offsets for rows r0:r1, from the block's start)
        seg = shared[name][base + int(ptr[0]):base + int(ptr[-1])]
        flags = np.zeros(seg.size, dtype=np.int8)
        _sparsetools.csr_sort_indices(r1 - r0, ap, seg, flags)
        _sparsetools.csr_sum_duplicates(r1 - r0, n, ap, seg, flags)
        rows.append((ap, seg[:int(ap[-1])]))
    a, b = rows
    if kept:  # the halves merged into a temporary, which is merged with the kept rows
        both = np.empty(a[1].size + b[1].size, dtype=np.int32)
        ptr = _merge(n, r1 - r0, a, b, both)
        k0, k1 = int(shared["indptr"][r0]), int(shared["indptr"][r1])
        a, b = ((shared["indptr"][r0:r1 + 1] - k0).astype(np.int32), shared["indices"][k0:k1]), (ptr, both[:ptr[-1]])
    ptr = _merge(n, r1 - r0, a, b, shared["out"][start:start + a[1].size + b[1].size])
    shared["half_ptr"][2][r0 + 1:r1 + 1] = ptr[1:]
    return int(ptr[-1])


def sort_merge_halves(pool, shared: dict, m: int, block: int, *, kept: bool) -> int:
    """A kept round's ``m`` pairs into sorted, distinct rows of ``indices``/``indptr``, merged with
    the rows already there if ``kept``; return the entry count. Each half of the pairs becomes
    its own CSR in place (one worker each; in ``indices``, or in ``t`` when rows are kept),
    blocks of rows sort and merge them into ``out``, then move them back left (all in the
    workers, which write offsets into ``half_ptr``, three int32 rows of ``n + 1``: the copy's
    pages stay out of this process's resident memory, as the mirror's do)."""
    indptr, (ptr0, ptr1, merged) = shared["indptr"], shared["half_ptr"]
    h, name = m // 2, "t" if kept else "indices"
    pool.map(_place_half, [(0, h, name, 0), (h, m, name, 1)])
    sizes = ptr0.astype(np.int64)  # a row's room in ``out``: its entries in both halves (and kept)
    sizes += ptr1
    if kept:
        sizes += indptr
    tasks = [(int(r0), int(r1), name, h, int(sizes[r0]), kept) for r0, r1 in pairwise(row_block_bounds(sizes, block))]
    del sizes
    moves, pos = [], 0
    for (r0, r1, _, _, start, _), count in zip(tasks, pool.map(_sort_merge_block, tasks)):
        moves.append((start, pos, count))
        indptr[r0 + 1:r1 + 1] = merged[r0 + 1:r1 + 1]
        indptr[r0 + 1:r1 + 1] += pos
        pos += count
    indptr[0] = 0
    pool.map(_move_block, moves)  # by the workers: this process never touches the copy's pages
    return pos


def _move_block(shared: dict, task: tuple) -> None:
    """Copy ``count`` merged entries from ``out[start:]`` back to ``indices[pos:]``."""
    start, pos, count = task
    shared["indices"][pos:pos + count] = shared["out"][start:start + count]
