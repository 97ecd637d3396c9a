"""Distinct undirected edges drawn chunk by chunk straight into a symmetric CSR, in place.

A generator proposes candidate edges (a power-law model, a lattice of local edges, ...);
duplicates and self loops are dropped, and rounds of extra candidates top the graph up
until it holds exactly ``target`` distinct undirected edges (a random excess is dropped).
Holding every candidate as a 64-bit key, as a one-shot build does, costs 16+ bytes per
edge and rules out full ogbn-papers100M (1.6 B edges) on a 24 GB machine. Here the only
large array is the CSR's own ``indices`` (int32, allocated once at ``2 * target``), and
candidates are stored only when a whole round's fit ``KEEP_BYTES`` (512 MiB, 32-bit
pairs: up to about 60 M undirected edges, ogbn-products' size): each chunk is drawn from
its own seed, so a chunk can be drawn twice, once to count and once to place, and a
small round keeps its candidates from the count to the fill instead of drawing them
again. A round is:

1. **count**: draw every chunk, orient each candidate ``lo < hi`` and count per ``lo``;
2. **make room**: shift the rows kept from earlier rounds right (last rows first), so
   each row has space for its new candidates right after its old entries;
3. **fill**: draw the same chunks again and write each ``hi`` into row ``lo``;
4. **sort and dedupe**: sort each row and drop repeats (scipy's compiled per-row
   ``csr_sort_indices`` / ``csr_sum_duplicates`` on blocks of rows), compacting left.

The result is the upper triangle (``u < v``); one backward pass then writes each row's
upper part to its final place and each edge's mirror into the lower part of the other
row, filling every row in sorted order without a second copy. Peak memory is the
``indices`` buffer (4 bytes x 2 edges per undirected edge), three int64 arrays per node,
a small round's kept candidates (at most ``KEEP_BYTES``) and a chunk's temporaries (``CHUNK`` /
``BLOCK``); ``benchmarks/graphs.py`` measures it.

Candidates come from ``draw(gen, count) -> (a, b)``, a function of a
``numpy.random.Generator`` seeded per (build, round, chunk): the same ``rng`` gives the
same graph, whatever the machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import _sparsetools

from gnnsim.graph.csr import row_block_bounds
from gnnsim.progress import Progress, progress

CHUNK = 1 << 22  # candidate edges drawn at once (about 250 MB of temporaries)
KEEP_BYTES = 1 << 29  # a round whose candidates fit (int32 pairs) keeps them from count to fill: drawn once
TRANSPOSE_BYTES = 1 << 30  # an upper triangle whose transpose fits (9 bytes per edge) is mirrored through it
BLOCK = 1 << 24  # CSR entries each pass over the buffer sorts or moves at once
MODEL_ROUNDS = 8  # top-up rounds drawn from the model itself
MAX_ROUNDS = 40  # then uniform filler rounds; this bounds the total work
LOW32 = np.int64(0xFFFFFFFF)

BUILD_BYTES_PER_STORED_EDGE = 4  # the int32 indices buffer, 2 entries per undirected edge
BUILD_BYTES_PER_NODE = 36  # indptr, cursor and counts (int64 each), node ids and lattice cells (int32 each)

Draw = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def build_bytes(num_nodes: float, stored_edges: float) -> float:
    """A lower bound of a chunked build's peak memory (its arrays, not the chunk temporaries)."""
    return BUILD_BYTES_PER_STORED_EDGE * stored_edges + BUILD_BYTES_PER_NODE * num_nodes


def distinct_edge_csr(draw: Draw, target: int, num_nodes: int, rng: np.random.Generator, *,
                      what: str = "graph") -> tuple[np.ndarray, np.ndarray]:
    """``(indptr int64, indices int32)`` of a symmetric CSR with exactly ``min(target, n (n-1) / 2)``
    distinct undirected edges, rows sorted, no self loops.

    Draws come from ``draw`` for ``MODEL_ROUNDS`` rounds, then uniformly (a model that
    saturates, like a dense dataset shrunk to a few thousand nodes, still reaches its
    edge count). ``what`` names the build in the progress line.

    >>> rng = np.random.default_rng(0)
    >>> ptr, idx = distinct_edge_csr(lambda g, c: (g.integers(0, 6, c), g.integers(0, 6, c)), 9, 6, rng)
    >>> int(ptr[-1]), idx.dtype.name
    (18, 'int32')
    """
    n = int(num_nodes)
    if n >= 2**31:
        raise ValueError(f"chunked builds take node ids below 2^31, got {n:,} nodes")
    target = int(min(target, n * (n - 1) // 2))
    base = int(rng.integers(2**63))
    ask = int(target * 1.05) + 16
    indices = np.empty(max(2 * target, ask), dtype=np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    have = 0
    for round_ in range(MAX_ROUNDS):
        ask = min(ask, indices.size - have)
        source = draw if round_ < MODEL_ROUNDS else _uniform(n)
        seeds = [(base, round_, c) for c in range(-(-ask // CHUNK))]
        sizes = [min(CHUNK, ask - c * CHUNK) for c in range(len(seeds))]
        before = have
        # counted in candidate edges: drawn to count, drawn to place, then sorted with the kept ones
        with progress(f"graph: {what}, round {round_ + 1}", total=3 * ask + have, unit="edges") as p:
            # a small round keeps its candidates for the fill; a large one draws them again (its peak unchanged)
            kept: list[tuple[np.ndarray, np.ndarray]] | None = [] if 8 * ask <= KEEP_BYTES else None
            cursor = _make_room(indices, indptr, _count(source, seeds, sizes, n, p, kept))
            _fill(source, seeds, sizes, indices, cursor, p, kept)
            del cursor, kept
            have = _sort_dedupe(indices, indptr, n, p)
        if have >= target:
            break
        yield_rate = max((have - before) / max(ask, 1), 0.05)
        ask = int((target - have) / yield_rate * 1.1) + 16
    if have > target:
        _drop(indices, indptr, have - target, rng)
        have = target
    with progress(f"graph: {what}, mirroring", total=have, unit="edges") as p:
        full = _symmetrize(indices, indptr, n, p)
    return full, indices[:2 * have]


def _uniform(n: int) -> Draw:
    return lambda gen, count: (gen.integers(0, n, size=count), gen.integers(0, n, size=count))


def _pairs(source: Draw, seed: tuple[int, int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ``seed``'s candidates as int64 ``(lo, hi)``, ``lo < hi`` (self loops dropped)."""
    a, b = source(np.random.default_rng(list(seed)), size)
    lo = np.minimum(a, b).astype(np.int64, copy=False)
    hi = np.maximum(a, b).astype(np.int64, copy=False)
    keep = lo != hi
    return lo[keep], hi[keep]


def add_counts(counts: np.ndarray, ids: np.ndarray) -> None:
    """``counts[ids] += 1`` with repeats: a bincount when ``ids`` is large next to ``counts``.

    ``counts`` must be int64: ``np.add.at`` has a fast path for it only (on int32 counts
    it is 20-30x slower, measured at 111 M counts).
    """
    if ids.size * 8 >= counts.size:
        counts += np.bincount(ids, minlength=counts.size).astype(counts.dtype, copy=False)
    else:
        np.add.at(counts, ids, 1)


def _count(source: Draw, seeds: list, sizes: list, n: int, p: Progress,
           kept: list[tuple[np.ndarray, np.ndarray]] | None) -> np.ndarray:
    """Candidates per row ``lo``; every chunk's pairs go to ``kept`` (int32) unless it is None."""
    counts = np.zeros(n, dtype=np.int64)
    for seed, size in zip(seeds, sizes):
        lo, hi = _pairs(source, seed, size)
        add_counts(counts, lo)
        if kept is not None:
            kept.append((lo.astype(np.int32), hi.astype(np.int32)))
        p.update(size)
    return counts


def _make_room(indices: np.ndarray, indptr: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Move each row right by the new entries of the rows before it; return where each
    row's new entries start. ``indptr`` becomes the new layout (rows with their gaps)."""
    shift = counts  # turned in place into the exclusive running sum: no second array per node
    np.cumsum(shift, out=shift)
    total = int(shift[-1])
    for s in range(shift.size - 1, 0, -BLOCK):  # shift right by one place, last block first
        lo = max(s - BLOCK, 0)
        shift[lo + 1:s + 1] = shift[lo:s].copy()
    shift[0] = 0
    if indptr[-1] > 0:  # rows from earlier rounds: last block first, so nothing unread is overwritten
        bounds = row_block_bounds(indptr, BLOCK)
        for r0, r1 in zip(bounds[-2::-1], bounds[:0:-1]):
            s, e = int(indptr[r0]), int(indptr[r1])
            if e > s and shift[r1 - 1] > 0:  # (shift[r] is what rows before r gained)
                seg = indices[s:e].copy()
                dst = np.repeat(shift[r0:r1], np.diff(indptr[r0:r1 + 1]))
                dst += np.arange(s, e, dtype=np.int64)
                indices[dst] = seg
    cursor = indptr[1:] + shift  # a row's old end, moved: where its new entries go
    indptr[:-1] += shift
    indptr[-1] += total
    return cursor


def _fill(source: Draw, seeds: list, sizes: list, indices: np.ndarray, cursor: np.ndarray,
          p: Progress, kept: list[tuple[np.ndarray, np.ndarray]] | None) -> None:
    for c, (seed, size) in enumerate(zip(seeds, sizes)):
        if kept is not None:  # counted from the same draw: the pairs are still here
            lo, hi = (x.astype(np.int64) for x in kept[c])
            kept[c] = (lo[:0], hi[:0])  # (freed as the pass goes)
        else:
            lo, hi = _pairs(source, seed, size)
        key = (lo << 32) | hi
        del lo, hi
        key.sort()  # groups each row's candidates, so each gets its own slot
        rows = key >> 32
        starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        lengths = np.diff(np.append(starts, key.size))
        first = rows[starts]
        del rows
        pos = np.repeat(cursor[first] - starts, lengths)
        pos += np.arange(key.size, dtype=np.int64)
        indices[pos] = (key & LOW32).astype(np.int32)
        cursor[first] += lengths
        p.update(size)


def _sort_dedupe(indices: np.ndarray, indptr: np.ndarray, n: int, p: Progress) -> int:
    """Sort every row, drop repeated entries, close the gaps; return the entry count."""
    bounds = row_block_bounds(indptr, BLOCK)
    out = 0
    start = int(indptr[0])
    for r0, r1 in zip(bounds[:-1], bounds[1:]):
        end = int(indptr[r1])
        ap = indptr[r0:r1 + 1] - start
        ap[0] = 0  # indptr[r0] already holds the compacted start
        ap = ap.astype(np.int32)
        seg = indices[start:end]
        flags = np.zeros(seg.size, dtype=np.int8)
        _sparsetools.csr_sort_indices(int(r1 - r0), ap, seg, flags)
        _sparsetools.csr_sum_duplicates(int(r1 - r0), n, ap, seg, flags)
        kept = int(ap[-1])
        indices[out:out + kept] = seg[:kept]
        indptr[r0 + 1:r1 + 1] = out + ap[1:]
        out += kept
        p.update(end - start)
        start = end
    return out


def _distinct_sample(total: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct positions in ``[0, total)``, uniformly at random, sorted (memory O(count))."""
    picked = np.zeros(0, dtype=np.int64)
    while picked.size < count:
        more = rng.integers(0, total, size=int((count - picked.size) * 1.1) + 16)
        picked = np.unique(np.concatenate([picked, more]))
    if picked.size > count:
        picked = np.sort(picked[rng.choice(picked.size, size=count, replace=False)])
    return picked


def _drop(indices: np.ndarray, indptr: np.ndarray, excess: int, rng: np.random.Generator) -> None:
    """Remove ``excess`` entries chosen uniformly at random (distinct edges beyond the target)."""
    total = int(indptr[-1])
    picked = _distinct_sample(total, excess, rng)
    rows = np.searchsorted(indptr, picked, side="right") - 1
    indices[picked] = -1
    removed = np.zeros(indptr.size - 1, dtype=np.int64)
    add_counts(removed, rows)
    out = 0
    for s in range(0, total, BLOCK):
        seg = indices[s:min(s + BLOCK, total)]
        kept = seg[seg >= 0]
        indices[out:out + kept.size] = kept
        out += kept.size
    np.cumsum(removed, out=removed)
    indptr[1:] -= removed


def _transpose(indices: np.ndarray, indptr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The upper triangle's transpose ``(indptr int64, indices int32)``: row v lists every u < v
    with edge (u, v), ascending (scipy's compiled counting pass, no sort)."""
    total = int(indptr[-1])
    ptr = np.empty(n + 1, dtype=np.int32)
    cols = np.empty(total, dtype=np.int32)
    _sparsetools.csr_tocsc(n, n, indptr.astype(np.int32), indices[:total], np.zeros(total, dtype=np.int8), ptr, cols,
                           np.empty(total, dtype=np.int8))
    return ptr.astype(np.int64), cols


def _symmetrize(indices: np.ndarray, indptr: np.ndarray, n: int, p: Progress) -> np.ndarray:
    """Turn the upper triangle (compact, sorted rows) into the full symmetric CSR in place; return its indptr.

    Row ``r`` of the result is its mirrored entries (ids below ``r``), then its own upper
    row. Blocks are handled last rows first: an upper row only moves right, and the
    mirror of edge ``(u, v)`` lands in row ``v > u``, past every upper row not yet read.
    Where the triangle's transpose fits ``TRANSPOSE_BYTES`` (up to about 110 M undirected
    edges) the mirrors come from it, row by row, instead of a sort per block.
    """
    total = int(indptr[-1])
    degree = np.zeros(n, dtype=np.int64)
    for s in range(0, total, BLOCK):
        add_counts(degree, indices[s:min(s + BLOCK, total)])
    degree += indptr[1:]
    degree -= indptr[:-1]
    full = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=full[1:])
    del degree
    cursor = full[1:] - indptr[1:]  # where each upper row starts in its final place
    cursor += indptr[:-1]
    mirror = _transpose(indices, indptr, n) if 9 * total <= TRANSPOSE_BYTES and total < 2**31 else None
    bounds = row_block_bounds(indptr, BLOCK)
    for r0, r1 in zip(bounds[-2::-1], bounds[:0:-1]):
        s, e = int(indptr[r0]), int(indptr[r1])
        if e > s:
            cols = indices[s:e].copy()
            degree = np.diff(indptr[r0:r1 + 1])
            dst = np.repeat(cursor[r0:r1] - indptr[r0:r1], degree)
            dst += np.arange(s, e, dtype=np.int64)
            indices[dst] = cols
        if mirror is not None:  # rows r0..r1's mirrors (ascending) open each row, behind nothing unread
            ptr, cols_t = mirror
            a, b = int(ptr[r0]), int(ptr[r1])
            if b > a:
                pos = np.repeat(full[r0:r1] - ptr[r0:r1], np.diff(ptr[r0:r1 + 1]))
                pos += np.arange(a, b, dtype=np.int64)
                indices[pos] = cols_t[a:b]
            p.update(e - s)
            continue
        if e == s:
            continue
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
