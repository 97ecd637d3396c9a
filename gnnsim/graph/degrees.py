"""Power-law degree sequences fitted to a dataset's published degree statistics.

A preset's nodes get expected degrees from a rank sequence: the node of rank ``r`` (0 is
the heaviest) has weight proportional to the mass of ``(x + offset)^-alpha`` on
``[r, r + 1)``, ``alpha = 1 / (exponent - 1)``. Two knobs shape it: the tail
``exponent`` and the ``offset`` that flattens the head. Rather than guess them, a
preset fits them to two published figures besides the mean: the largest degree and the
standard deviation of the degree (the second moment is what neighbour sampling feels:
a sampled neighbour is picked in proportion to its degree, so hub concentration grows
with ``E[d^2] / E[d]``). Where a dataset publishes only its largest degree, the tail
exponent comes from the literature and only the offset is fitted.

The moments are computed in closed form (the first ranks exactly, the rest as an
integral), so a fit at 111 M nodes costs milliseconds and allocates nothing large.
:func:`degree_statistics` measures the same figures on a built graph, and
:func:`average_clustering` the share of closed triangles around sampled nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from gnnsim.graph.csr import rows_matrix

EXACT_RANKS = 100_000  # ranks whose weight is summed exactly; the tail beyond is an integral


def _mass(x: np.ndarray | float, offset: float, alpha: float) -> np.ndarray | float:
    """Integral of ``(t + offset)^-alpha`` from 0 to ``x``."""
    e = 1.0 - alpha
    if abs(e) < 1e-12:
        return np.log((np.asarray(x) + offset) / offset)
    return ((np.asarray(x) + offset) ** e - offset ** e) / e


def weight_moments(num_nodes: int, mean: float, alpha: float, offset: float) -> tuple[float, float]:
    """``(largest weight, standard deviation of the weights)`` for weights averaging ``mean``."""
    scale = mean * num_nodes / float(_mass(num_nodes, offset, alpha))
    k = min(EXACT_RANKS, num_nodes)
    head = scale * np.diff(_mass(np.arange(k + 1, dtype=np.float64), offset, alpha))
    second = float((head ** 2).sum())
    if k < num_nodes:  # beyond the head a weight is the integrand itself, to <0.1%
        e = 1.0 - 2.0 * alpha
        lo, hi = k + offset, num_nodes + offset
        tail = np.log(hi / lo) if abs(e) < 1e-12 else (hi ** e - lo ** e) / e
        second += scale * scale * tail
    return float(head[0]), float(np.sqrt(max(second / num_nodes - mean * mean, 0.0)))


def offset_for_max(num_nodes: int, mean: float, alpha: float, max_weight: float) -> float:
    """The offset that gives the heaviest rank the weight ``max_weight`` (bisection on a log scale)."""
    lo, hi = 1e-6, float(num_nodes) * 1e3
    for _ in range(100):
        mid = np.sqrt(lo * hi)
        first = mean * num_nodes * float(_mass(1.0, mid, alpha)) / float(_mass(num_nodes, mid, alpha))
        lo, hi = (mid, hi) if first > max_weight else (lo, mid)
    return hi


@dataclass(frozen=True)
class DegreeFit:
    exponent: float
    offset_fraction: float  # offset / num_nodes: kept when a preset is scaled, so the distribution is kept


@lru_cache(maxsize=64)
def fit_power_law(num_nodes: int, mean: float, max_degree: float, std: float | None = None,
                  exponent: float = 2.5, uniform_share: float = 0.0) -> DegreeFit:
    """Exponent and offset whose degrees have the published ``mean``, ``max_degree`` and ``std``.

    Degrees scatter around their weights (Poisson), which adds ``mean`` to the variance,
    and a share ``uniform_share`` of the edge endpoints may be spread evenly instead of by
    weight (the local edges of :func:`~gnnsim.graph.generators.power_law_communities`);
    both are taken out before the weights are fitted. Without ``std`` the given
    ``exponent`` is kept and only the offset is fitted to ``max_degree``.

    >>> f = fit_power_law(2_449_029, 50.52, 17_481, 95.9)
    >>> round(f.exponent, 2)
    2.84
    """
    keep = 1.0 - uniform_share
    max_w = (max_degree - uniform_share * mean) / keep
    if std is None:
        alpha = 1.0 / (exponent - 1.0)
        return DegreeFit(exponent, float(offset_for_max(num_nodes, mean, alpha, max_w) / num_nodes))
    std_w = np.sqrt(max(std * std - mean, 0.0)) / keep
    lo, hi = 2.02, 8.0  # tail exponents; the weights' spread falls as the exponent grows
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        alpha = 1.0 / (mid - 1.0)
        _, s = weight_moments(num_nodes, mean, alpha, offset_for_max(num_nodes, mean, alpha, max_w))
        lo, hi = (mid, hi) if s > std_w else (lo, mid)
    gamma = 0.5 * (lo + hi)
    return DegreeFit(gamma, float(offset_for_max(num_nodes, mean, 1.0 / (gamma - 1.0), max_w) / num_nodes))


def degree_statistics(csr: sp.csr_matrix) -> dict[str, float]:
    """Mean, standard deviation, largest degree, share of isolated nodes and the share of
    edge endpoints held by the top 1% of nodes (what a degree cache of 1% can hold)."""
    deg = np.diff(csr.indptr)
    top = max(1, deg.size // 100)
    heaviest = np.partition(deg, deg.size - top)[deg.size - top:]
    return {"mean": float(deg.mean()), "std": float(deg.std()), "max": int(deg.max(initial=0)),
            "isolated_share": float((deg == 0).mean()),
            "top1pct_endpoint_share": float(heaviest.sum() / max(deg.sum(), 1))}


def average_clustering(csr: sp.csr_matrix, samples: int, rng: np.random.Generator) -> float:
    """Mean local clustering coefficient of ``samples`` random nodes of degree >= 2.

    Triangles through node v are ``(A^2 ∘ A)[v].sum() / 2``, computed for the sampled rows
    only: the rows of their neighbours are taken out (:func:`~gnnsim.graph.csr.rows_matrix`)
    and multiplied, so it costs about the sampled nodes' two-hop edges on a graph of any size.
    """
    deg = np.diff(csr.indptr)
    eligible = np.flatnonzero(deg >= 2)
    if eligible.size == 0:
        return 0.0
    rows = rng.choice(eligible, size=min(samples, eligible.size), replace=False)
    sub = rows_matrix(csr, rows)
    middle = np.unique(sub.indices)
    paths = sub[:, middle] @ rows_matrix(csr, middle)  # two-hop paths from each sampled node
    triangles = np.asarray(paths.multiply(sub).sum(axis=1)).ravel() / 2.0
    d = deg[rows].astype(np.float64)
    return float(np.mean(triangles / (d * (d - 1) / 2.0)))
