"""The random cache policy: a seeded uniform draw, the baseline the hotness policies beat."""

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.graph.build import build_graph
from gnnsim.partition.registry import partition_graph
from gnnsim.pipeline import cluster_for
from gnnsim.rng import rng_for
from gnnsim.workload.builder import build_workload
from gnnsim.workload.cache import random_cache

BASE = {"graph": {"source": "chung-lu", "num_nodes": 4000, "avg_degree": 8, "exponent": 2.2, "feature_dim": 16},
        "training": {"mode": "single-node-multigpu", "batch_size": 128, "fanouts": [5, 4]},
        "simulation": {"iterations": 4, "seed": 3}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}


def workload(policy):
    s = scenario_from_dict({**BASE, "training": {**BASE["training"],
                                                 "cache": {"policy": policy, "budget_fraction": 0.1}}})
    g, c = build_graph(s), cluster_for(s)
    return build_workload(s, g, partition_graph(g, s.partition.method, c.num_trainers, seed=0), c)


def test_the_draw_is_the_cache_stream_of_the_seed():
    expected = np.sort(rng_for(3, "cache").choice(1000, size=50, replace=False))
    cache = random_cache(1000, 50, 64, seed=3)
    assert np.flatnonzero(cache.mask).tolist() == expected.tolist() and cache.bytes == 50 * 64
    assert not (cache.mask == random_cache(1000, 50, 64, seed=4).mask).all()
    assert random_cache(1000, 0, 64, seed=3).rows == 0


def test_random_hits_its_share_and_hotness_beats_it():
    rand, deg = workload("random"), workload("degree")
    # (a power-law graph: hot nodes are sampled far more often than their share)
    # a uniform set of 10% of the rows holds 10% of any batch's rows on average, whatever is hot
    assert rand.batch_stats["cache_hit_rate_mean"] == pytest.approx(0.1, abs=0.03)
    assert deg.batch_stats["cache_hit_rate_mean"] > rand.batch_stats["cache_hit_rate_mean"] + 0.05
    assert rand.memory["by_category"]["cached_features"] == 400 * 16 * 4
