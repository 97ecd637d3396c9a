"""Feature caches in device memory: which input rows a trainer finds on its own GPU.

Fetching input features dominates many GNN training runs, so systems keep the rows they
expect to need most often in the GPU's spare memory. A cached row needs neither the
feature exchange nor the host-to-device copy. gnnsim models three policies
(``training.cache.policy``):

- ``none``: nothing is cached.
- ``degree`` (PaGraph, Lin et al., SoCC 2020): a static cache of the nodes with the
  highest in-degree, since a node with many neighbours is sampled often. The same set
  on every trainer.
- ``presample`` (GNNLab, Yang et al., EuroSys 2022): each trainer samples a few batches
  before training (``presample_batches``, with its own random stream so the training
  batches are unchanged), counts how often each node appears among the input nodes and
  caches the hottest. Ties go to the higher degree, then the lower id.
- ``random``: the budget's worth of nodes drawn uniformly without replacement from the
  scenario seed's ``cache`` stream (:func:`gnnsim.rng.rng_for`), the same set on every
  trainer: the baseline the two policies above are measured against (GNNLab's "Random").

The budget is ``budget_bytes`` of feature rows or ``budget_fraction`` of all rows. The
hit rate of an iteration is cached input rows / input rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gnnsim.config import CacheConfig
from gnnsim.rng import rng_for


@dataclass(frozen=True)
class FeatureCache:
    """The rows one trainer holds in device memory (``mask[v]`` is True when v is cached)."""

    policy: str
    mask: np.ndarray  # bool per node
    row_bytes: int

    @property
    def rows(self) -> int:
        return int(self.mask.sum())

    @property
    def bytes(self) -> int:
        return self.rows * self.row_bytes

    def hits(self, input_nodes: np.ndarray) -> int:
        """Input rows found in the cache."""
        return int(self.mask[input_nodes].sum()) if self.mask.size else 0

    def hit_rate(self, input_nodes: np.ndarray) -> float:
        return self.hits(input_nodes) / max(1, int(np.asarray(input_nodes).size))


def budget_rows(cfg: CacheConfig, num_nodes: int, row_bytes: int) -> int:
    """How many feature rows the budget holds (never more than the graph has).

    >>> budget_rows(CacheConfig(policy="degree", budget_bytes=1000), 100, 64)
    15
    >>> budget_rows(CacheConfig(policy="degree", budget_fraction=0.25), 100, 64)
    25
    """
    if cfg.policy == "none":
        return 0
    if cfg.budget_bytes is not None:
        rows = cfg.budget_bytes // max(1, row_bytes)
    else:
        rows = int(np.floor((cfg.budget_fraction or 0.0) * num_nodes))
    return int(min(rows, num_nodes))


def top_nodes(score: np.ndarray, degree: np.ndarray, rows: int) -> np.ndarray:
    """Ids of the ``rows`` highest scores; ties by higher degree, then lower id.

    >>> top_nodes(np.array([1, 5, 5, 0]), np.array([9, 1, 2, 0]), 2).tolist()
    [1, 2]
    """
    if rows <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(score.size), -degree, -score))
    return np.sort(order[:rows]).astype(np.int64)


def _mask(num_nodes: int, ids: np.ndarray) -> np.ndarray:
    mask = np.zeros(num_nodes, dtype=bool)
    mask[ids] = True
    return mask


def degree_cache(degree: np.ndarray, rows: int, row_bytes: int) -> FeatureCache:
    """PaGraph's static cache: the ``rows`` nodes of highest in-degree."""
    return FeatureCache("degree", _mask(degree.size, top_nodes(degree, degree, rows)), row_bytes)


def presample_cache(degree: np.ndarray, rows: int, row_bytes: int,
                    presampled_inputs: list[np.ndarray]) -> FeatureCache:
    """GNNLab's cache: the ``rows`` nodes seen most often among pre-sampled batches' inputs."""
    hot = np.zeros(degree.size, dtype=np.int64)
    if presampled_inputs:
        hot = np.bincount(np.concatenate(presampled_inputs), minlength=degree.size)
    return FeatureCache("presample", _mask(degree.size, top_nodes(hot, degree, rows)), row_bytes)


def random_cache(num_nodes: int, rows: int, row_bytes: int, seed: int) -> FeatureCache:
    """``rows`` nodes drawn uniformly without replacement from the ``cache`` stream of ``seed``.

    >>> c = random_cache(10, 3, 8, seed=0); (c.policy, c.rows, c.bytes)
    ('random', 3, 24)
    >>> bool((c.mask == random_cache(10, 3, 8, seed=0).mask).all())  # the same seed, the same rows
    True
    """
    ids = rng_for(seed, "cache").choice(num_nodes, size=rows, replace=False) if rows > 0 else np.zeros(0, np.int64)
    return FeatureCache("random", _mask(num_nodes, ids), row_bytes)


def no_cache(num_nodes: int, row_bytes: int) -> FeatureCache:
    return FeatureCache("none", np.zeros(0, dtype=bool), row_bytes)


def build_cache(cfg: CacheConfig, degree: np.ndarray, row_bytes: int,
                presample: Callable[[int], list[np.ndarray]] | None = None, seed: int = 0) -> FeatureCache:
    """The cache that ``cfg`` describes; ``presample(n)`` returns n pre-sampled input-node
    arrays; ``seed`` is the scenario's (the random policy's stream)."""
    rows = budget_rows(cfg, degree.size, row_bytes)
    if cfg.policy == "none":
        return no_cache(degree.size, row_bytes)
    if cfg.policy == "degree":
        return degree_cache(degree, rows, row_bytes)
    if cfg.policy == "random":
        return random_cache(degree.size, rows, row_bytes, seed)
    inputs = presample(cfg.presample_batches) if presample is not None else []
    return presample_cache(degree, rows, row_bytes, inputs)
