"""Seeded synthetic graphs with the structure that makes partitioning matter.

The stochastic block model (SBM) splits nodes into communities; most edges stay inside
a community (``intra_fraction``), so a good partitioner that finds the communities cuts
far fewer edges than a random one, as on real citation and product graphs.

Real graphs also have skewed degrees: a few hubs with thousands of neighbours, which
dominate sampling fan-out and halo traffic. :func:`chung_lu` gives power-law degrees,
:func:`rmat` the Graph500 Kronecker graph, and :func:`power_law_communities` both
communities and power-law degrees (what the dataset presets in
:mod:`gnnsim.graph.presets` use). All of them are vectorized. :func:`power_law_communities`
draws its edges chunk by chunk straight into the CSR (:mod:`gnnsim.graph.chunked_csr`:
int32 ids, no 64-bit edge list), so full ogbn-papers100M builds in under 20 GB;
``benchmarks/graphs.py`` and ``benchmarks/partition.py`` measure time and memory.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnsim.graph.chunked_csr import CHUNK, distinct_edge_csr
from gnnsim.graph.csr import CompactCSR, make_csr
from gnnsim.graph.graph import Graph, csr_from_edges, csr_from_undirected_pairs, pick_train_ids
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
    return Graph(csr, feature_dim, num_classes, train, labels, name=f"sbm-{num_nodes}", undirected=True)


# ---------------------------------------------------------------------------------------
# Distinct-edge machinery shared by the power-law generators.
#
# Every generator below draws candidate endpoint pairs, folds them to undirected keys
# ``u * n + v`` with ``u < v``, drops self loops, and keeps distinct keys. Duplicates are
# common in skewed graphs (hubs pick each other again and again), so a first draw falls
# short of the target; it is topped up with more draws until exactly ``target`` distinct
# edges exist (a random excess is dropped). Published edge counts are thus matched exactly.
# ---------------------------------------------------------------------------------------

MODEL_ROUNDS = 8  # top-up rounds drawn from the model itself
MAX_TOP_UP_ROUNDS = 40  # then uniform filler rounds; this bounds the total work


def distinct_undirected_pairs(draw, target: int, num_nodes: int,
                              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``min(target, n (n-1) / 2)`` distinct pairs ``u < v`` from ``draw(count) -> (src, dst)``.

    Pairs come back sorted by ``(u, v)``, ready for :func:`csr_from_undirected_pairs`.
    Draws come from the model for ``MODEL_ROUNDS`` rounds. A model can saturate: a
    dense dataset shrunk to a few thousand nodes (Reddit, mean degree 492, at
    ``scale=0.005``) asks for more edges inside its communities than there are pairs.
    The remaining deficit is then filled with uniformly random pairs, so the edge count
    still matches; such a graph has weaker community structure than asked for, and
    the only cure is a larger scale.
    """
    n = np.int64(num_nodes)
    target = int(min(target, num_nodes * (num_nodes - 1) // 2))
    keys = np.zeros(0, dtype=np.int64)
    ask = int(target * 1.05) + 16
    for round_ in range(MAX_TOP_UP_ROUNDS):
        if round_ < MODEL_ROUNDS:
            src, dst = draw(ask)
        else:
            src, dst = rng.integers(0, num_nodes, size=ask), rng.integers(0, num_nodes, size=ask)
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        keep = lo != hi
        before = keys.size
        fresh = _sorted_unique(lo[keep] * n + hi[keep])
        del src, dst, lo, hi, keep
        if keys.size:  # two sorted runs: a stable (run-merging) sort joins them in linear time
            fresh = np.concatenate([keys, fresh])
            fresh.sort(kind="stable")
            fresh = _sorted_unique(fresh, presorted=True)
        keys = fresh
        if keys.size >= target:
            break
        # Redraw the deficit, inflated by the share of this round's draws that were new.
        yield_rate = max((keys.size - before) / max(ask, 1), 0.05)
        ask = int((target - keys.size) / yield_rate * 1.1) + 16
    if keys.size > target:
        drop = rng.choice(keys.size, size=keys.size - target, replace=False)
        keys = np.delete(keys, drop)
    return keys // n, keys % n


def _sorted_unique(keys: np.ndarray, presorted: bool = False) -> np.ndarray:
    """Sorted distinct values (sort + neighbour compare; faster than np.unique's hashing here)."""
    if not presorted:
        keys.sort()
    if keys.size == 0:
        return keys
    keep = np.empty(keys.size, dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _relabel_sorted(u: np.ndarray, v: np.ndarray, perm: np.ndarray, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply the id permutation to pairs and return them again as sorted ``u < v`` pairs."""
    a, b = perm[u], perm[v]
    keys = np.minimum(a, b) * np.int64(num_nodes) + np.maximum(a, b)
    keys.sort()
    return keys // num_nodes, keys % num_nodes


def _power_law_positions(count: int, num_nodes: int, alpha: float, offset: float,
                         rng: np.random.Generator) -> np.ndarray:
    """``count`` draws of ``floor(x)`` where x on [0, n) has density proportional to ``(x + offset)^-alpha``.

    Closed-form inverse CDF (no table, no search), so each draw costs a few flops.
    """
    u = rng.random(count)
    lo, hi = offset, num_nodes + offset
    if abs(alpha - 1.0) < 1e-9:
        x = lo * np.exp(u * np.log(hi / lo))
    else:
        e = 1.0 - alpha
        x = (lo ** e + u * (hi ** e - lo ** e)) ** (1.0 / e)
    return np.minimum((x - offset).astype(np.int64), num_nodes - 1)


def _expected_max_degree(offset: float, num_nodes: int, alpha: float, num_edges: int) -> float:
    """Expected degree of the heaviest node: ``2 E`` times its share of endpoint draws."""
    lo, hi = offset, num_nodes + offset
    if abs(alpha - 1.0) < 1e-9:
        total = np.log(hi / lo)
        first = np.log((lo + 1.0) / lo)
    else:
        e = 1.0 - alpha
        total = (hi ** e - lo ** e) / e
        first = ((lo + 1.0) ** e - lo ** e) / e
    return 2.0 * num_edges * first / total


def _offset_for_max_degree(num_nodes: int, alpha: float, num_edges: int, max_degree: float) -> float:
    """The offset that makes the heaviest node's expected degree ``max_degree`` (bisection, scalar)."""
    lo, hi = 1e-3, float(num_nodes) * 1e3
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        if _expected_max_degree(mid, num_nodes, alpha, num_edges) > max_degree:
            lo = mid
        else:
            hi = mid
    return hi


def power_law_communities(num_nodes: int, num_edges: int, *, num_communities: int = 1, intra_fraction: float = 0.0,
                          exponent: float = 2.5, max_degree: float | None = None, offset_fraction: float | None = None,
                          local_fraction: float = 0.0, local_window: int = 0,
                          rng: np.random.Generator) -> tuple[sp.csr_matrix | CompactCSR, np.ndarray]:
    """Degree-corrected SBM with power-law expected degrees (Chung-Lu inside communities).

    Node ranks ``r`` get expected degrees proportional to ``(r + offset)^(-1/(exponent-1))``,
    the Chung-Lu sequence whose degree distribution has tail exponent ``exponent``. The
    offset is ``offset_fraction * num_nodes`` when given (a fit to published degree
    statistics, :func:`gnnsim.graph.degrees.fit_power_law`, kept when a graph is scaled),
    else set so that the heaviest node's expected degree is ``max_degree`` (default
    ``sqrt(n * mean degree)``, the natural cut-off of an uncorrelated scale-free graph).
    Rank ``r`` lies in community ``r mod k``. A share ``local_fraction`` of the edges are
    local: a uniform source and one of the ``(2 * local_window + 1)^2 - 1`` nodes around
    it on a square lattice (a torus of about ``sqrt(n)`` columns) filled row by row with
    one community after another. Local edges close triangles around low-degree nodes, as
    co-purchases and citations do, while hubs keep their edges global; on a plane rather
    than a ring, a node's neighbourhood three hops out is nine times its first hop rather
    than three, so sampled neighbourhoods spread as far as the real graphs' do (see the
    presets). Every other edge draws its source by degree and, with probability
    ``intra_fraction``, its other end by degree inside the source's community, else by
    degree anywhere. Finally node ids are randomly permuted so that ids carry
    neither degree nor community.

    Returns the symmetric CSR with exactly ``num_edges`` distinct undirected edges (when
    possible; a :class:`~gnnsim.graph.csr.CompactCSR` from 2^31 stored edges up) and the
    community of every node. Candidates are drawn in seeded chunks
    (:func:`~gnnsim.graph.chunked_csr.distinct_edge_csr`): the same ``rng`` gives the same graph.
    """
    if exponent <= 2.0:
        raise ValueError(f"exponent must be > 2 for a finite mean degree, got {exponent}")
    k = max(1, min(int(num_communities), num_nodes))
    alpha = 1.0 / (exponent - 1.0)
    mean_degree = 2.0 * num_edges / max(num_nodes, 1)
    if offset_fraction is not None:
        offset = max(float(offset_fraction) * num_nodes, 1e-6)
    else:
        if max_degree is None:
            max_degree = np.sqrt(num_nodes * mean_degree)
        max_degree = float(min(max(max_degree, mean_degree * 1.01), num_nodes - 1))
        offset = _offset_for_max_degree(num_nodes, alpha, num_edges, max_degree)
    width = int(np.ceil(np.sqrt(num_nodes)))  # lattice columns
    radius = int(min(max(local_window, 1), max((width - 1) // 2, 1)))
    perm = _shuffled_ids(num_nodes, rng)  # rank -> node id, so ids carry neither degree nor community
    cells = perm[_community_order(num_nodes, k, rng)] if local_fraction > 0 else None  # lattice cell -> node id

    def draw(gen: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        local = int((gen.random(count) < local_fraction).sum()) if cells is not None else 0
        src = _power_law_positions(count - local, num_nodes, alpha, offset, gen)
        other = _power_law_positions(count - local, num_nodes, alpha, offset, gen)
        if k > 1:
            intra = gen.random(src.size) < intra_fraction
            # Snap the other end to the source's community, keeping its degree rank.
            snapped = (other // k) * k + src % k
            snapped = np.where(snapped >= num_nodes, snapped - k, snapped)
            other = np.where(intra, snapped, other)
        a, b = perm[src], perm[other]
        if local:  # a uniform cell and one of the others in the square of side 2 * radius + 1 around it
            pos = gen.integers(0, num_nodes, size=local)
            side = 2 * radius + 1
            cell = (gen.integers(1, side * side, size=local) + side * side // 2) % (side * side)  # never the centre
            row = pos // width + cell // side - radius
            col = (pos % width + cell % side - radius) % width
            a = np.concatenate([a, cells[pos]])
            b = np.concatenate([b, cells[(row * width + col) % num_nodes]])
        return a, b

    indptr, indices = distinct_edge_csr(draw, num_edges, num_nodes, rng, what=f"a {num_nodes:,}-node graph")
    cells = None  # the draws are done: free the lattice before the communities are written
    community = np.empty(num_nodes, dtype=np.int64)
    for s in range(0, num_nodes, CHUNK):  # community of rank r is r mod k, stored at the node's id
        community[perm[s:s + CHUNK]] = np.arange(s, min(s + CHUNK, num_nodes), dtype=np.int64) % k
    return make_csr(indptr, indices, num_nodes), community


def _shuffled_ids(num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded random permutation of ``0..n-1`` in 32 bits where ids fit (no 64-bit copy)."""
    ids = np.arange(num_nodes, dtype=np.int32 if num_nodes < 2**31 else np.int64)
    rng.shuffle(ids)
    return ids


def _community_order(num_nodes: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Ranks community by community (rank r is in community r mod k), shuffled inside each."""
    ranks = _shuffled_ids(num_nodes, rng)
    community = (ranks % k).astype(np.int16 if k < 2**15 else np.int64)
    return ranks[np.argsort(community, kind="stable")]  # a radix sort on 16-bit keys


def chung_lu(num_nodes: int, avg_degree: float, *, exponent: float = 2.5, max_degree: float | None = None,
             feature_dim: int = 128, num_classes: int = 8, train_fraction: float = 0.5,
             seed: int | np.random.Generator = 0) -> Graph:
    """Chung-Lu power-law graph: expected degrees follow a power law with tail ``exponent``.

    ``avg_degree`` is the mean of the symmetric CSR's row lengths (``nnz / n``), as for
    :func:`sbm`; the graph has exactly ``round(n * avg_degree / 2)`` distinct undirected
    edges. Labels are seeded at random (there is no community to learn).

    Examples
    --------
    >>> g = chung_lu(2000, 8.0, seed=0)
    >>> g.num_nodes, g.num_edges, int(g.degrees().max()) > 4 * 8
    (2000, 16000, True)
    """
    rng = seed if isinstance(seed, np.random.Generator) else rng_for(seed, "graph")
    edges = int(round(num_nodes * avg_degree / 2))
    csr, _ = power_law_communities(num_nodes, edges, exponent=exponent, max_degree=max_degree, rng=rng)
    labels = rng.integers(0, num_classes, size=num_nodes)
    train = pick_train_ids(num_nodes, train_fraction, rng)
    return Graph(csr, feature_dim, num_classes, train, labels, name=f"chung-lu-{num_nodes}", undirected=True)


GRAPH500_RMAT = (0.57, 0.19, 0.19)  # a, b, c of the Graph500 Kronecker generator (d = 0.05); graph500.org spec


def rmat(num_nodes: int, avg_degree: float = 32.0, *, a: float = GRAPH500_RMAT[0], b: float = GRAPH500_RMAT[1],
         c: float = GRAPH500_RMAT[2], feature_dim: int = 128, num_classes: int = 8, train_fraction: float = 0.5,
         seed: int | np.random.Generator = 0) -> Graph:
    """Seeded R-MAT graph with the Graph500 parameters (a=0.57, b=0.19, c=0.19, d=0.05).

    Each edge descends ``ceil(log2 n)`` levels of the adjacency matrix, choosing a
    quadrant with probabilities a, b, c, d at every level, for all edges at once (one
    vectorized draw per level). Ids at or beyond ``n`` (when n is not a power of two) are
    redrawn, self loops and duplicates are dropped and topped up, so the graph has exactly
    ``round(n * avg_degree / 2)`` distinct undirected edges where that many exist. Node
    ids are then randomly permuted, as Graph500 does, so ids carry no degree order. The
    default ``avg_degree=32`` is Graph500's edge factor 16 counted in both directions.

    Examples
    --------
    >>> g = rmat(1024, 16.0, seed=0)
    >>> g.num_nodes, g.num_edges
    (1024, 16384)
    """
    if min(a, b, c) < 0 or a + b + c >= 1:
        raise ValueError(f"R-MAT needs a, b, c >= 0 with a + b + c < 1, got {a}, {b}, {c}")
    rng = seed if isinstance(seed, np.random.Generator) else rng_for(seed, "graph")
    levels = max(1, int(np.ceil(np.log2(max(num_nodes, 2)))))
    ab, abc = a + b, a + b + c

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        src = np.zeros(count, dtype=np.int64)
        dst = np.zeros(count, dtype=np.int64)
        for level in range(levels):  # a loop over bit levels, never over edges
            r = rng.random(count, dtype=np.float32)
            src |= (r >= ab).astype(np.int64) << level
            dst |= (((r >= a) & (r < ab)) | (r >= abc)).astype(np.int64) << level
        inside = (src < num_nodes) & (dst < num_nodes)
        return src[inside], dst[inside]

    edges = int(round(num_nodes * avg_degree / 2))
    u, v = distinct_undirected_pairs(draw, edges, num_nodes, rng)
    perm = rng.permutation(num_nodes).astype(np.int64)
    csr = csr_from_undirected_pairs(*_relabel_sorted(u, v, perm, num_nodes), num_nodes)
    labels = rng.integers(0, num_classes, size=num_nodes)
    train = pick_train_ids(num_nodes, train_fraction, rng)
    return Graph(csr, feature_dim, num_classes, train, labels, name=f"rmat-{num_nodes}", undirected=True)
