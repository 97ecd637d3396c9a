"""Distinct undirected edges drawn chunk by chunk straight into a symmetric CSR.

A generator proposes candidate edges (a power-law model, a lattice of local edges, ...);
duplicates and self loops are dropped, and rounds of extra candidates top the graph up
until it holds exactly ``target`` distinct undirected edges (a random excess is dropped).
Holding every candidate as a 64-bit key, as a one-shot build does, costs 16+ bytes per
edge and rules out full ogbn-papers100M (1.6 B edges) on a 24 GB machine. Here the only
large array is the CSR's own ``indices`` (int32, allocated once at ``2 * target``). Each
chunk is drawn from its own seed, so a chunk can be drawn twice, or by another process,
and give the same candidates. A round is one of two kinds:

- **kept** (its int32 pairs fit ``KEEP_BYTES``, 512 MiB: up to about 60 M undirected
  edges, ogbn-products' size): the chunks are drawn once, into two pair buffers. The
  first round's pairs are written row by row by scipy's compiled counting pass
  (``coo_tocsr``), then every row is sorted and deduplicated; a later round's pairs
  become a small sorted CSR that scipy's merge of two sorted CSRs (``csr_plus_csr``)
  joins to the rows kept so far, into a copy, each entry once (in place, like a large
  round, when the copy does not fit ``MERGE_BYTES``).
- **large**: each chunk is drawn to count its candidates per row, the kept rows are
  shifted right to make room (last rows first), each chunk is drawn again and written
  into its rows, and every row is sorted and deduplicated (scipy's ``csr_sort_indices``
  / ``csr_sum_duplicates`` on blocks of rows), compacting left.

The result is the upper triangle (``u < v``). Where its transpose and a symmetric copy
fit ``MIRROR_COPY_BYTES`` (about 120 M undirected edges) every row of the copy is its
mirrored entries (the transpose's row) then its own; else one backward pass mirrors the
triangle in place, block by block (both in :mod:`gnnsim.graph.csr_mirror`). Peak memory is the ``indices`` buffer (4 bytes x 2
edges per undirected edge), three int64 arrays per node, a kept round's pairs and a
chunk's temporaries (``CHUNK`` / ``BLOCK``), and on small graphs the copies above;
``benchmarks/graphs.py`` measures it.

From ``PARALLEL_MIN_STORED`` stored edges up to 2^31, a kept round's chunks, the row
blocks' sorts and the mirror's blocks are shared out over forked workers, one per core
(:mod:`gnnsim.graph.forked`): they write into the same arrays in shared memory and send
back only counts and row offsets; the bytes are those of one process. So are scipy's
compiled passes: the first round's ``coo_tocsr`` (by halves of the pairs), a later
round's merge (``csr_plus_csr``, by blocks of rows) and the mirror's transpose (by
ranges of output rows): :mod:`gnnsim.graph.csr_split`.

Candidates come from ``draw(gen, count) -> (a, b)``, a function of a
``numpy.random.Generator`` seeded per (build, round, chunk): the same ``rng`` gives the
same graph, whatever the machine and however many processes build it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
from scipy.sparse import _sparsetools

from gnnsim.graph.csr import add_counts, row_block_bounds
from gnnsim.graph.csr_mirror import mirror_copy, symmetrize
from gnnsim.graph.csr_split import sort_merge_halves
from gnnsim.graph.forked import shared_empty, usable_cores, worker_pool
from gnnsim.progress import Progress, progress

CHUNK = 1 << 22  # candidate edges drawn at once (about 250 MB of temporaries)
KEEP_BYTES = 1 << 29  # a round whose candidates fit (int32 pairs) keeps them from count to fill: drawn once
MIRROR_COPY_BYTES = 3 << 29  # an upper triangle whose transpose and symmetric copy fit is mirrored into the copy
MIRROR_COPY_BYTES_PER_EDGE = 13  # the transpose's ids (int32), the copy's (2 x int32) and the merge's values (int8)
BLOCK = 1 << 24  # CSR entries each pass over the buffer sorts or moves at once
MODEL_ROUNDS = 8  # top-up rounds drawn from the model itself
MAX_ROUNDS = 40  # then uniform filler rounds; this bounds the total work
LOW32 = np.int64(0xFFFFFFFF)
MERGE_BYTES = 1 << 30  # a later kept round is merged into a copy of the rows while the copy fits
MERGE_BYTES_PER_ENTRY = 6  # the copy's ids (int32) and values, and the kept rows' values (int8 each)
PARALLEL_MIN_STORED = 1 << 22  # stored edges from which chunks are drawn and rows sorted on every core

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
    stored = max(2 * target, ask)
    processes = build_processes(stored)
    new = shared_empty if processes > 1 else np.zeros  # (zero pages: allocated, not touched)
    indices, indptr = new(stored, np.int32), new(n + 1, np.int64)
    keep = min(KEEP_BYTES // 8, stored)  # a small round's candidate pairs
    shared = {"n": n, "draw": draw, "indices": indices, "indptr": indptr,
              "lo": new(keep, np.int32), "hi": new(keep, np.int32)}
    copy = MIRROR_COPY_BYTES_PER_EDGE * target <= MIRROR_COPY_BYTES  # mirrored into a copy: its arrays
    if copy:
        shared.update(t_ptr=new(n + 1, np.int32), t=new(target, np.int32), out=new(2 * target, np.int32),
                      half_ptr=new(3 * (n + 1), np.int32).reshape(3, n + 1))
    have = 0
    with worker_pool(processes, shared) as pool:
        for round_ in range(MAX_ROUNDS):
            ask = min(ask, indices.size - have)
            seeds = [(base, round_, c) for c in range(-(-ask // CHUNK))]
            sizes = [min(CHUNK, ask - c * CHUNK) for c in range(len(seeds))]
            uniform = round_ >= MODEL_ROUNDS
            before = have
            # counted in candidate edges: drawn (to count), placed, then sorted with the kept ones
            with progress(f"graph: {what}, round {round_ + 1}", total=3 * ask + have, unit="edges") as p:
                if 8 * ask <= KEEP_BYTES:  # drawn once, on every core, and kept until placed
                    m = _draw_kept(pool, shared, seeds, sizes, uniform, p)
                    if have and (have + m) * MERGE_BYTES_PER_ENTRY <= MERGE_BYTES and have + m < 2**31:
                        have = _merge_kept(pool, shared, m, have, p)
                    elif not have and pool.workers > 1 and "out" in shared and m <= shared["out"].size:  # two cores
                        have = sort_merge_halves(pool, shared, m, BLOCK, kept=False)
                        p.update(2 * m)
                    else:
                        _place_kept(shared, m, p)
                        have = _sort_dedupe(pool, shared, p)
                else:  # drawn twice, to count and to place: the peak stays the CSR's
                    source = _uniform(n) if uniform else draw
                    cursor = _make_room(indices, indptr, _count(source, seeds, sizes, n, p))
                    for seed, size in zip(seeds, sizes):
                        _place(*_pairs(source, seed, size), indices, cursor)
                        p.update(size)
                    del cursor
                    have = _sort_dedupe(pool, shared, p)
            if have >= target:
                break
            yield_rate = max((have - before) / max(ask, 1), 0.05)
            ask = int((target - have) / yield_rate * 1.1) + 16
        if have > target:
            _drop(indices, indptr, have - target, rng)
            have = target
        with progress(f"graph: {what}, mirroring", total=have, unit="edges") as p:
            if copy:
                return mirror_copy(pool, shared, p, BLOCK)
            return symmetrize(indices, indptr, n, p, BLOCK), indices[:2 * have]


def build_processes(stored_edges: int) -> int:
    """Processes that draw and sort a build: every usable core from :data:`PARALLEL_MIN_STORED`
    stored edges up to 2^31 (a larger build keeps one process and its memory bound), else one."""
    return usable_cores() if PARALLEL_MIN_STORED <= stored_edges < 2**31 else 1


def _uniform(n: int) -> Draw:
    return lambda gen, count: (gen.integers(0, n, size=count), gen.integers(0, n, size=count))


def _pairs(source: Draw, seed: tuple[int, int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ``seed``'s candidates as int64 ``(lo, hi)``, ``lo < hi`` (self loops dropped)."""
    a, b = source(np.random.default_rng(list(seed)), size)
    lo = np.minimum(a, b).astype(np.int64, copy=False)
    hi = np.maximum(a, b).astype(np.int64, copy=False)
    keep = lo != hi
    return lo[keep], hi[keep]


def _count(source: Draw, seeds: list, sizes: list, n: int, p: Progress) -> np.ndarray:
    """Candidates per row ``lo``."""
    counts = np.zeros(n, dtype=np.int64)
    for seed, size in zip(seeds, sizes):
        add_counts(counts, _pairs(source, seed, size)[0])
        p.update(size)
    return counts


def _draw_chunk(shared: dict, task: tuple) -> int:
    """Draw one chunk into the round's pair buffers at ``offset`` as int32 ``(lo, hi)``; return
    how many pairs it gave. Self loops are dropped by moving the chunk's last pairs into their
    places (a round's order is no one's business: its rows are sorted afterwards)."""
    seed, size, offset, uniform = task
    a, b = (_uniform(shared["n"]) if uniform else shared["draw"])(np.random.default_rng(list(seed)), size)
    lo, hi = shared["lo"][offset:offset + a.size], shared["hi"][offset:offset + a.size]
    np.minimum(a, b, out=lo)
    np.maximum(a, b, out=hi)
    del a, b
    loops = np.flatnonzero(lo == hi)
    kept = lo.size - loops.size
    if loops.size:
        holes = loops[loops < kept]
        fill = kept + np.flatnonzero(lo[kept:] != hi[kept:])
        lo[holes], hi[holes] = lo[fill], hi[fill]
    return kept


def _draw_kept(pool, shared: dict, seeds: list, sizes: list, uniform: bool, p: Progress) -> int:
    """Draw a round that fits ``KEEP_BYTES`` into the pair buffers (chunks shared out over
    the pool), closing the gaps that dropped self loops leave; return the pair count."""
    lo, hi = shared["lo"], shared["hi"]
    offsets = np.cumsum([0, *sizes[:-1]]).tolist()
    got = pool.map(_draw_chunk, [(s, size, off, uniform) for s, size, off in zip(seeds, sizes, offsets)])
    m = 0
    for off, k in zip(offsets, got):
        if off != m:
            lo[m:m + k] = lo[off:off + k]
            hi[m:m + k] = hi[off:off + k]
        m += k
    p.update(sum(sizes))
    return m


def _place_kept(shared: dict, m: int, p: Progress) -> None:
    """Put a kept round's ``m`` pairs in their rows, unsorted. The first round's rows are written
    by scipy's compiled counting pass (``coo_tocsr``, no sort: a row's order is the sort pass's
    business; on several cores where the mirror's copy exists, each half of the pairs on its
    own core instead: :func:`~gnnsim.graph.csr_split.sort_merge_halves`); a later round's go
    into the room made after each row's kept entries."""
    lo, hi, indices, indptr, n = (shared[k] for k in ("lo", "hi", "indices", "indptr", "n"))
    if indptr[-1] == 0:
        ptr = np.empty(n + 1, dtype=np.int32)
        none = np.zeros(m, dtype=np.int8)  # the values scipy carries along (read and written: all zero)
        _sparsetools.coo_tocsr(n, n, m, lo[:m], hi[:m], none, ptr, indices[:m], none)
        indptr[:] = ptr
    else:
        counts = np.zeros(n, dtype=np.int64)
        add_counts(counts, lo[:m])
        cursor = _make_room(indices, indptr, counts)
        for s in range(0, m, CHUNK):
            e = min(s + CHUNK, m)
            _place(lo[s:e].astype(np.int64), hi[s:e].astype(np.int64), indices, cursor)
    p.update(m)


def _merge_kept(pool, shared: dict, m: int, have: int, p: Progress) -> int:
    """Merge a later kept round's ``m`` pairs into the ``have`` sorted, distinct entries; return
    the new entry count. The pairs become a small sorted CSR (``coo_tocsr``, then a sort of its
    short rows), and scipy's merge of two sorted CSRs (``csr_plus_csr``) writes the union,
    each entry once, into a copy: no pass moves or re-sorts the kept entries in place. On
    several cores where the mirror's arrays exist (shared, not yet used) each half of the
    pairs is done on its own core and blocks of rows are merged over the pool
    (:func:`~gnnsim.graph.csr_split.sort_merge_halves`)."""
    lo, hi, indices, indptr, n = (shared[k] for k in ("lo", "hi", "indices", "indptr", "n"))
    if pool.workers > 1 and "out" in shared and m <= shared["t"].size and have + m <= shared["out"].size:
        total = sort_merge_halves(pool, shared, m, BLOCK, kept=True)
        p.update(have + 2 * m)
        return total
    new_ptr, new_idx, none = np.empty(n + 1, dtype=np.int32), np.empty(m, dtype=np.int32), np.zeros(m, dtype=np.int8)
    _sparsetools.coo_tocsr(n, n, m, lo[:m], hi[:m], none, new_ptr, new_idx, none)
    _sparsetools.csr_sort_indices(n, new_ptr, new_idx, none)
    _sparsetools.csr_sum_duplicates(n, n, new_ptr, new_idx, none)
    p.update(m)
    del none
    ones = np.ones(max(have, int(new_ptr[-1])), dtype=np.int8)  # (the merge drops entries whose sum is 0)
    ptr = np.empty(n + 1, dtype=np.int32)
    out = np.empty(have + int(new_ptr[-1]), dtype=np.int32)
    _sparsetools.csr_plus_csr(n, n, indptr.astype(np.int32), indices[:have], ones, new_ptr, new_idx, ones,
                              ptr, out, np.empty(out.size, dtype=np.int8))
    total = int(ptr[-1])
    indices[:total] = out[:total]
    indptr[:] = ptr
    p.update(have + m)
    return total


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


def _place(lo: np.ndarray, hi: np.ndarray, indices: np.ndarray, cursor: np.ndarray) -> None:
    """Write each ``hi`` at its row ``lo``'s cursor and move the cursors on (int64 pairs)."""
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


def _sort_block(shared: dict, task: tuple) -> np.ndarray:
    """Sort rows ``r0:r1`` (entries ``start:end``) in place and drop repeats; return their
    new offsets from ``start`` (int32)."""
    r0, r1, start, end = task
    ap = shared["indptr"][r0:r1 + 1] - start
    ap[0] = 0  # (indptr[r0] may already hold the compacted start)
    ap = ap.astype(np.int32)
    seg = shared["indices"][start:end]
    flags = np.zeros(seg.size, dtype=np.int8)
    _sparsetools.csr_sort_indices(int(r1 - r0), ap, seg, flags)
    _sparsetools.csr_sum_duplicates(int(r1 - r0), shared["n"], ap, seg, flags)
    return ap


def _sort_dedupe(pool, shared: dict, p: Progress) -> int:
    """Sort every row, drop repeated entries, close the gaps; return the entry count.

    Blocks of rows are sorted over the pool while this process moves each finished block
    left: it writes only below the block's end, where no worker reads any more."""
    indices, indptr = shared["indices"], shared["indptr"]
    bounds = row_block_bounds(indptr, BLOCK)
    blocks = [(int(r0), int(r1), int(indptr[r0]), int(indptr[r1])) for r0, r1 in pairwise(bounds)]
    out = 0
    for (r0, r1, start, end), ap in zip(blocks, pool.imap(_sort_block, blocks)):
        kept = int(ap[-1])
        if out != start:
            indices[out:out + kept] = indices[start:start + kept]
        indptr[r0 + 1:r1 + 1] = out + ap[1:]
        out += kept
        p.update(end - start)
    indptr[0] = 0
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
