"""Generators and presets: exact counts, seeding, skew, and the published statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from gnnsim.errors import GraphFormatError
from gnnsim.graph.generators import chung_lu, distinct_undirected_pairs, power_law_communities, rmat
from gnnsim.graph.graph import csr_from_undirected_pairs, symmetric_pattern
from gnnsim.graph.presets import PRESETS, preset_graph
from gnnsim.rng import rng_for


def assert_simple_symmetric(csr):
    assert (csr != csr.T).nnz == 0
    assert csr.diagonal().sum() == 0
    assert csr.max() == 1  # no duplicate summed into a 2
    assert csr.has_sorted_indices


def test_rmat_counts_symmetry_and_seed():
    g = rmat(1000, 12.0, seed=3)  # not a power of two: out-of-range ids are redrawn
    assert g.num_nodes == 1000 and g.num_edges == 12000
    assert_simple_symmetric(g.csr)
    assert (rmat(1000, 12.0, seed=3).csr != g.csr).nnz == 0
    assert (rmat(1000, 12.0, seed=4).csr != g.csr).nnz > 0


def test_rmat_is_skewed_and_uniform_rmat_is_not():
    skewed = rmat(4096, 16.0, seed=0).degrees()
    flat = rmat(4096, 16.0, a=0.25, b=0.25, c=0.25, seed=0).degrees()
    assert skewed.max() > 5 * flat.max()


def test_rmat_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="a \\+ b \\+ c < 1"):
        rmat(100, 4.0, a=0.5, b=0.3, c=0.3)


def test_chung_lu_degree_tail():
    g = chung_lu(20_000, 10.0, seed=1)
    deg = g.degrees()
    assert g.num_edges == 200_000 and abs(deg.mean() - 10.0) < 1e-9
    # Heavy tail: the top 1% of nodes hold far more than 1% of the edge endpoints.
    top = np.sort(deg)[-200:].sum() / deg.sum()
    assert top > 0.08
    assert_simple_symmetric(g.csr)


def test_power_law_communities_intra_fraction():
    csr, community = power_law_communities(5000, 40_000, num_communities=5, intra_fraction=0.9, rng=rng_for(0, "t"))
    coo = sp.triu(csr, 1).tocoo()
    same = (community[coo.row] == community[coo.col]).mean()
    # 90% drawn inside, plus 1/5 of the 10% drawn anywhere that land inside by chance.
    assert abs(same - (0.9 + 0.1 / 5)) < 0.02
    assert np.bincount(community).min() == 1000


def test_distinct_pairs_caps_at_complete_graph():
    rng = rng_for(0, "t")
    u, v = distinct_undirected_pairs(lambda c: (rng.integers(0, 5, c), rng.integers(0, 5, c)), 100, 5, rng)
    assert u.size == 10 and (u < v).all()


def test_undirected_pair_csr_matches_generic_builder():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 50 * 50, 300))
    u, v = keys // 50, keys % 50
    keep = u < v
    fast = csr_from_undirected_pairs(u[keep], v[keep], 50)
    slow = symmetric_pattern(sp.csr_matrix((np.ones(keep.sum()), (u[keep], v[keep])), shape=(50, 50)))
    assert (fast != slow).nnz == 0


REFERENCE = Path("/work/shared/reference/dataset-statistics.jsonl")


@pytest.mark.parametrize("name", ["ogbn-arxiv", "ogbn-products", "ogbn-papers100M"])
def test_presets_match_reference_statistics(name):
    if not REFERENCE.is_file():
        pytest.skip("shared reference statistics not present")
    rows = {json.loads(ln)["dataset"]["name"]: json.loads(ln)["dataset"] for ln in REFERENCE.read_text().splitlines()}
    ref, p = rows[name], PRESETS[name]
    assert (p.nodes, p.published_edges, p.feature_dim, p.num_classes) == (
        ref["nodes"], ref["edges"], ref["feature_dim"], ref["classes"])


def test_reddit_preset_counts_both_directions():
    p = PRESETS["reddit"]
    assert (p.nodes, p.published_edges, p.feature_dim, p.train_nodes) == (232_965, 114_615_892, 602, 153_431)
    assert p.undirected_edges * 2 == p.published_edges


@pytest.mark.parametrize("name,scale", [("ogbn-arxiv", 0.02), ("reddit", 0.005), ("ogbn-products", 0.002),
                                        ("ogbn-papers100M", 0.00002)])
def test_preset_graph_reproduces_scaled_counts(name, scale):
    p = PRESETS[name]
    g = preset_graph(name, scale=scale, seed=0)
    assert g.num_nodes == round(p.nodes * scale)
    assert g.num_edges == 2 * round(p.undirected_edges * scale)
    assert g.feature_dim == p.feature_dim and g.num_classes == p.num_classes
    assert g.train_ids.size == round(g.num_nodes * p.train_fraction)
    assert_simple_symmetric(g.csr)


def test_preset_is_deterministic_and_errors():
    a, b = preset_graph("ogbn-arxiv", scale=0.01, seed=2), preset_graph("ogbn-arxiv", scale=0.01, seed=2)
    assert (a.csr != b.csr).nnz == 0 and (a.train_ids == b.train_ids).all()
    with pytest.raises(GraphFormatError, match="unknown graph preset 'ogbn-product'.*Did you mean 'ogbn-products'"):
        preset_graph("ogbn-product", scale=0.01)
    with pytest.raises(GraphFormatError, match="scale must lie in"):
        preset_graph("reddit", scale=2.0)
