"""The chunked in-place CSR builder against a one-pass reference, and the compact CSR form."""

from __future__ import annotations

import multiprocessing
from contextlib import contextmanager

import numpy as np
import pytest

import gnnsim.graph.chunked_csr as chunked
import gnnsim.graph.csr as csr_mod
from gnnsim.errors import GraphFormatError
from gnnsim.graph import csr_split
from gnnsim.graph.csr import CompactCSR, make_csr, row_block_bounds, rows_matrix
from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.graph.presets import preset_graph


def skewed_draw(n: int):
    """Candidates with a heavy head (many repeats) from the chunk's generator."""
    def draw(gen: np.random.Generator, count: int):
        a = np.minimum((gen.random(count) ** 3 * n).astype(np.int64), n - 1).astype(np.int32)
        return a, gen.integers(0, n, size=count)
    return draw


def one_pass(draw, target: int, n: int, rng: np.random.Generator):
    """The same rounds, each keeping every candidate as a 64-bit key and deduplicating with np.unique."""
    target = int(min(target, n * (n - 1) // 2))
    base, ask = int(rng.integers(2**63)), int(target * 1.05) + 16
    cap, keys, have = max(2 * target, ask), np.zeros(0, dtype=np.int64), 0
    for round_ in range(chunked.MAX_ROUNDS):
        ask = min(ask, cap - have)
        source = draw if round_ < chunked.MODEL_ROUNDS else chunked._uniform(n)
        drawn = [keys]
        for c in range(-(-ask // chunked.CHUNK)):
            lo, hi = chunked._pairs(source, (base, round_, c), min(chunked.CHUNK, ask - c * chunked.CHUNK))
            drawn.append(lo * n + hi)
        keys = np.unique(np.concatenate(drawn))
        before, have = have, keys.size
        if have >= target:
            break
        ask = int((target - have) / max((have - before) / max(ask, 1), 0.05) * 1.1) + 16
    if have > target:
        keys = np.delete(keys, chunked._distinct_sample(have, have - target, rng))
    return csr_from_edges(keys // n, keys % n, n)


@pytest.mark.parametrize("copy", [0, 1 << 30])  # mirrors by a sort per block in place, or into a copy
@pytest.mark.parametrize("keep", [0, 8 * 2000, 1 << 29])  # rounds drawn twice; only the small ones kept; all kept
@pytest.mark.parametrize("chunk,block", [(64, 50), (1000, 7), (1 << 22, 1 << 24)])
@pytest.mark.parametrize("n,target", [(300, 500), (300, 3000), (120, 7000), (40, 10_000)])
def test_chunked_build_equals_one_pass(monkeypatch, chunk, block, n, target, keep, copy):
    """Small chunks and blocks (many of each, top-up rounds, uniform filler when saturated) give
    exactly the CSR of one pass over all candidates, whichever rounds kept their candidates
    between the count and the fill and which drew them again; the complete graph caps the count."""
    monkeypatch.setattr(chunked, "CHUNK", chunk)
    monkeypatch.setattr(chunked, "BLOCK", block)
    monkeypatch.setattr(chunked, "KEEP_BYTES", keep)
    monkeypatch.setattr(chunked, "MIRROR_COPY_BYTES", copy)
    monkeypatch.setattr(chunked, "MERGE_BYTES", copy)  # later kept rounds placed and sorted, or merged
    indptr, indices = chunked.distinct_edge_csr(skewed_draw(n), target, n, np.random.default_rng(5))
    ref = one_pass(skewed_draw(n), target, n, np.random.default_rng(5))
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert np.array_equal(indptr, ref.indptr) and np.array_equal(indices, ref.indices)
    assert indptr[-1] == 2 * min(target, n * (n - 1) // 2)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked")
@pytest.mark.parametrize("keep,copy", [(1 << 29, 1 << 30), (1 << 29, 0), (8 * 2000, 0), (0, 1 << 30)])
@pytest.mark.parametrize("n,target", [(300, 3000), (40, 10_000)])
def test_forked_build_equals_one_pass(monkeypatch, forked, n, target, keep, copy):
    """Two forked workers drawing chunks, sorting blocks, merging later rounds, transposing
    and mirroring into shared memory (scipy's passes split by blocks or ranges of rows,
    scanned in small pieces) give exactly the one-pass CSR, as one process does."""
    for name, value in (("CHUNK", 500), ("BLOCK", 300), ("KEEP_BYTES", keep), ("MIRROR_COPY_BYTES", copy),
                        ("MERGE_BYTES", copy), ("PARALLEL_MIN_STORED", 0)):
        monkeypatch.setattr(chunked, name, value)
    monkeypatch.setattr(csr_split, "PIECE", 100)
    monkeypatch.setattr(csr_split, "SAMPLE", 7)
    assert chunked.build_processes(2 * target) == 2
    indptr, indices = chunked.distinct_edge_csr(skewed_draw(n), target, n, np.random.default_rng(5))
    ref = one_pass(skewed_draw(n), target, n, np.random.default_rng(5))
    assert np.array_equal(indptr, ref.indptr) and np.array_equal(indices, ref.indices)


class ManyWorkers:
    """An in-process pool that says it has ``workers`` cores: scipy's passes are split that many ways."""

    def __init__(self, workers: int, shared: dict):
        self.workers, self.shared = workers, shared

    def map(self, task, args):
        return [task(self.shared, a) for a in args]

    def imap(self, task, args):
        return iter(self.map(task, args))


@pytest.mark.parametrize("workers", [2, 3, 7])
@pytest.mark.parametrize("n,target", [(300, 3000), (1000, 40_000)])
def test_split_passes_equal_one_call(monkeypatch, workers, n, target):
    """Kept rounds' pairs in two halves, sorted and merged by blocks of rows, and the transpose
    in 2-7 ranges of output rows give the CSR of one scipy call per pass."""
    for name, value in (("CHUNK", 700), ("BLOCK", 500), ("KEEP_BYTES", 1 << 29), ("MIRROR_COPY_BYTES", 1 << 30),
                        ("MERGE_BYTES", 1 << 30)):
        monkeypatch.setattr(chunked, name, value)
    monkeypatch.setattr(csr_split, "PIECE", 64)
    monkeypatch.setattr(csr_split, "SAMPLE", 50)
    calls = []
    for name in ("_place_half", "_sort_merge_block", "_transpose_range"):
        task = getattr(csr_split, name)
        monkeypatch.setattr(csr_split, name, lambda shared, a, task=task, name=name: calls.append(name) or task(shared, a))
    monkeypatch.setattr(chunked, "worker_pool", contextmanager(lambda processes, shared: iter([ManyWorkers(workers, shared)])))
    indptr, indices = chunked.distinct_edge_csr(skewed_draw(n), target, n, np.random.default_rng(5))
    ref = one_pass(skewed_draw(n), target, n, np.random.default_rng(5))
    assert np.array_equal(indptr, ref.indptr) and np.array_equal(indices, ref.indices)
    assert calls.count("_place_half") >= 4 and calls.count("_sort_merge_block") >= 4  # (2 rounds, blocks of rows)
    assert 2 <= calls.count("_transpose_range") <= workers  # cut at the sample's quantiles (a heavy row is one range)


def test_block_size_does_not_change_the_graph(monkeypatch):
    draw, rng = skewed_draw(500), np.random.default_rng(1)
    first = chunked.distinct_edge_csr(draw, 4000, 500, rng)
    monkeypatch.setattr(chunked, "BLOCK", 13)
    again = chunked.distinct_edge_csr(draw, 4000, 500, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_preset_is_symmetric_sorted_loop_free_in_32_bits():
    g = preset_graph("ogbn-arxiv", scale=0.02, seed=3)
    csr = g.csr
    assert csr.indptr.dtype == np.int32 and csr.indices.dtype == np.int32
    assert (csr != csr.T).nnz == 0 and csr.diagonal().sum() == 0 and csr.has_canonical_format
    assert g.undirected and g.symmetric is g.csr  # no symmetric copy of a generated graph
    again = preset_graph("ogbn-arxiv", scale=0.02, seed=3)
    assert np.array_equal(again.indices, g.indices) and np.array_equal(again.labels, g.labels)


def test_compact_form_above_32_bit_edge_counts(monkeypatch):
    base = csr_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 4)
    monkeypatch.setattr(csr_mod, "INT32_MAX", 5)  # as if 6 stored edges overflowed 32-bit offsets
    big = make_csr(base.indptr.astype(np.int64), base.indices, 4)
    assert isinstance(big, CompactCSR) and big.indptr.dtype == np.int64 and big.indices.dtype == np.int32
    assert big.nnz == 6 and big.shape == (4, 4)
    g = Graph(big, 4, 2, np.array([0]), np.zeros(4, dtype=np.int64), undirected=True)
    assert g.symmetric is big
    with pytest.raises(GraphFormatError, match="vertex-cut"):
        g.undirected_edges()
    with pytest.raises(GraphFormatError, match="not known to be undirected"):
        Graph(big, 4, 2, np.array([0]), np.zeros(4, dtype=np.int64)).symmetric  # noqa: B018


def test_rows_matrix_and_block_bounds():
    g = preset_graph("ogbn-products", scale=0.002, seed=0)
    rows = np.array([5, 0, 77, 5])
    assert (rows_matrix(g.csr, rows) != g.csr[rows]).nnz == 0
    bounds = row_block_bounds(g.indptr, 1000)
    assert bounds[0] == 0 and bounds[-1] == g.num_nodes and np.all(np.diff(bounds) > 0)
    sizes = np.diff(g.indptr[bounds])
    assert sizes[:-1].max() <= 1000 + np.diff(g.indptr).max()


def test_progress_lines_only_when_asked(monkeypatch, capsys):
    """Off a terminal a build is silent; forced (GNNSIM_PROGRESS=1) it names its rounds and the mirroring."""
    monkeypatch.setattr(chunked, "CHUNK", 100)
    monkeypatch.delenv("GNNSIM_PROGRESS", raising=False)
    chunked.distinct_edge_csr(skewed_draw(200), 2000, 200, np.random.default_rng(0), what="test graph")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("GNNSIM_PROGRESS", "1")
    chunked.distinct_edge_csr(skewed_draw(200), 2000, 200, np.random.default_rng(0), what="test graph")
    err = capsys.readouterr().err
    assert "graph: test graph, round 1" in err and "graph: test graph, mirroring" in err
