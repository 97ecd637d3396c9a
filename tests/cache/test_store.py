"""The graph and partition cache: a second build comes from it, a damaged entry is rebuilt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gnnsim.cache import store
from gnnsim.cache.graphs import GRAPH_VERSION, cached_graph, cached_partition
from gnnsim.config import Scenario
from gnnsim.graph.build import build_graph
from gnnsim.graph.presets import preset_graph


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GNNSIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def scenario(**graph) -> Scenario:
    return Scenario.model_validate({"graph": {"source": "preset:ogbn-arxiv", "scale": 0.01, **graph}})


def counting_builder(calls):
    def build():
        calls.append(1)
        return preset_graph("ogbn-arxiv", scale=0.01, seed=0)
    return build


def test_second_build_comes_from_the_cache_with_equal_arrays(cache):
    calls = []
    first = cached_graph({"what": "arxiv"}, counting_builder(calls))
    second = cached_graph({"what": "arxiv"}, counting_builder(calls))
    assert len(calls) == 1  # built once
    assert first.cache_key == second.cache_key is not None
    assert (first.csr != second.csr).nnz == 0
    assert np.array_equal(first.indptr, second.indptr) and np.array_equal(first.indices, second.indices)
    assert np.array_equal(first.train_ids, second.train_ids) and np.array_equal(first.labels, second.labels)
    assert (first.feature_dim, first.num_classes, first.name) == (second.feature_dim, second.num_classes, second.name)
    assert second.indices.dtype == np.int32 and second.train_ids.dtype == np.int64
    manifest = json.loads(next(cache.glob("graph/*/manifest.json")).read_text())
    assert manifest["spec"]["graph_version"] == GRAPH_VERSION
    assert manifest["files"]["indices"]["dtype"] == "int32"


def test_corrupted_file_is_rebuilt_with_a_one_line_notice(cache, capsys):
    calls = []
    good = cached_graph({"what": "arxiv"}, counting_builder(calls))
    indices = next(cache.glob("graph/*/indices.npy"))
    raw = bytearray(indices.read_bytes())
    raw[-5] ^= 0xFF  # same size, one id changed: only the checksum sees it
    indices.write_bytes(bytes(raw))
    again = cached_graph({"what": "arxiv"}, counting_builder(calls))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(calls) == 2 and (again.csr != good.csr).nnz == 0
    assert len(err) == 1 and "corrupt or stale" in err[0] and "checksum" in err[0] and "rebuilding" in err[0]
    third = cached_graph({"what": "arxiv"}, counting_builder(calls))  # the rebuilt entry is sound again
    assert len(calls) == 2 and (third.csr != good.csr).nnz == 0


def test_truncated_file_and_foreign_manifest_are_not_trusted(cache, capsys):
    calls = []
    cached_graph({"what": "arxiv"}, counting_builder(calls))
    indptr = next(cache.glob("graph/*/indptr.npy"))
    indptr.write_bytes(indptr.read_bytes()[:-8])
    cached_graph({"what": "arxiv"}, counting_builder(calls))
    assert len(calls) == 2 and "wrong size" in capsys.readouterr().err
    manifest = next(cache.glob("graph/*/manifest.json"))
    data = json.loads(manifest.read_text())
    data["spec"]["what"] = "something else"
    manifest.write_text(json.dumps(data))
    cached_graph({"what": "arxiv"}, counting_builder(calls))
    assert len(calls) == 3 and "stale" in capsys.readouterr().err


def test_cache_off_and_key_covers_the_spec(cache, monkeypatch):
    a = store.spec_key("graph", {"graph": {"scale": 0.01}, "seed": 0})
    assert a != store.spec_key("graph", {"graph": {"scale": 0.01}, "seed": 1})
    assert a != store.spec_key("graph", {"graph": {"scale": 0.02}, "seed": 0})
    monkeypatch.setenv("GNNSIM_CACHE", "off")
    calls = []
    g = cached_graph({"what": "arxiv"}, counting_builder(calls))
    cached_graph({"what": "arxiv"}, counting_builder(calls))
    assert len(calls) == 2 and g.cache_key is None and not cache.exists()


def test_build_graph_uses_the_cache_per_seed_and_scale(cache):
    s = scenario()
    a, b = build_graph(s), build_graph(s)
    assert a.cache_key == b.cache_key and (a.csr != b.csr).nnz == 0
    other = build_graph(Scenario.model_validate({"graph": {"source": "preset:ogbn-arxiv", "scale": 0.01},
                                                 "simulation": {"seed": 1}}))
    assert other.cache_key != a.cache_key
    assert build_graph(scenario(scale=0.02)).cache_key not in (a.cache_key, other.cache_key)
    assert len(store.entries(cache)) == 3


def test_partition_cache_returns_the_same_assignment_and_metrics(cache):
    from gnnsim.partition.metrics import metrics_of
    from gnnsim.partition.registry import partition_graph

    g = build_graph(scenario())
    calls = []

    def compute():
        calls.append(1)
        p = partition_graph(g, "random", 4, seed=0)
        return p, metrics_of(g, p)

    p1, m1 = cached_partition(g, "random", 4, 0, compute)
    p2, m2 = cached_partition(g, "random", 4, 0, compute)
    assert len(calls) == 1 and np.array_equal(p1.assignment, p2.assignment) and m1 == m2
    cached_partition(g, "random", 8, 0, lambda: (partition_graph(g, "random", 8), None) and compute())
    assert len(calls) == 2  # another part count is another entry


def test_info_and_clear(cache):
    build_graph(scenario())
    found = store.entries(cache)
    assert len(found) == 1 and found[0]["kind"] == "graph" and "ogbn-arxiv" in found[0]["what"]
    assert store.clear(cache, "partition") == 0 and store.clear(cache) == 1 and store.entries(cache) == []


def test_cache_command_info_and_clear(cache, capsys):
    from gnnsim.cli import main

    build_graph(scenario())
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out and "1 entries" in out and "ogbn-arxiv@0.01" in out
    assert main(["cache", "clear"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out and store.entries(cache) == []


def test_a_save_killed_half_way_is_listed_as_unfinished_and_cleared(cache, capsys):
    """A run killed while writing leaves its temporary folder (never read: no manifest was
    renamed into place); info shows its size so that the space is not lost unseen."""
    import os
    import subprocess
    import sys

    from gnnsim.cli import main

    build_graph(scenario())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = cache / "graph" / f".tmp-0123abcd-{int(dead.stdout)}"  # a pid that has exited
    left.mkdir(parents=True)
    (left / "indices.npy").write_bytes(b"x" * 5000)
    ours = cache / "graph" / f".tmp-4567ef-{os.getpid()}"  # a save still running: not listed
    ours.mkdir()
    found = store.entries(cache)
    assert [e["what"].split(":")[0] for e in found if e["path"] == str(left)] == ["unfinished"]
    assert not any(e["path"] == str(ours) for e in found) and len(found) == 2
    assert main(["cache", "info"]) == 0
    assert "unfinished" in capsys.readouterr().out
    assert store.clear(cache) == 3 and not left.exists()


def test_a_large_graph_is_saved_in_the_background_and_read_back(cache, monkeypatch):
    from gnnsim.cache import graphs

    monkeypatch.setattr(graphs, "BACKGROUND_SAVE_MIN_EDGES", 1)
    calls = []
    first = cached_graph({"what": "arxiv"}, counting_builder(calls))
    second = cached_graph({"what": "arxiv"}, counting_builder(calls))  # waits for the write, then reads it
    assert len(calls) == 1 and np.array_equal(first.indices, second.indices)
    assert [e["kind"] for e in store.entries(cache)] == ["graph"] and not store._writing
