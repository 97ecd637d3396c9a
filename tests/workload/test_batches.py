"""A batch's counts, and the disk cache that keeps them for the next prediction."""

from __future__ import annotations

import numpy as np
import pytest

import gnnsim.workload.builder as builder
from gnnsim.config import Scenario
from gnnsim.graph.build import build_graph
from gnnsim.pipeline import cluster_for, partition_and_metrics_for
from gnnsim.workload.batches import BatchCounts, batch_counts, counts_arrays, counts_from_arrays
from gnnsim.workload.builder import build_workload, rank_minibatches
from gnnsim.workload.cache import FeatureCache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GNNSIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def scenario(profile="a100-2x8-eth100", **training) -> Scenario:
    return Scenario.model_validate({
        "graph": {"source": "sbm", "num_nodes": 3000, "num_communities": 8, "avg_degree": 8, "feature_dim": 16,
                  "num_classes": 4, "train_fraction": 0.5},
        "partition": {"method": "metis"},
        "training": {"batch_size": 64, "fanouts": [5, 3], **training},
        "cluster": {"profile": profile, "num_nodes": 1, "trainers_per_node": 4},
        "simulation": {"iterations": 3, "seed": 0}})


def workload(s: Scenario):
    g = build_graph(s)
    cluster = cluster_for(s)
    partition, _ = partition_and_metrics_for(s, g, cluster.num_trainers)
    return build_workload(s, g, partition, cluster)


def counting_sampler(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = builder.rank_minibatches

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(builder, "rank_minibatches", spy)
    return calls


def test_counts_match_the_batch_counted_by_hand():
    s = scenario()
    g = build_graph(s)
    assignment = np.arange(g.num_nodes, dtype=np.int32) % 4
    mb = rank_minibatches(g, g.train_ids, 1, s, 1, 1)[0]
    mask = np.zeros(g.num_nodes, dtype=bool)
    mask[np.argsort(-g.degrees(), kind="stable")[:300]] = True
    c = batch_counts(mb, assignment, 1, 4, s, g, FeatureCache("degree", mask, 64))
    inputs = mb.input_nodes.tolist()
    assert c.inputs == len(inputs) == len(set(inputs))
    assert c.cached == sum(mask[v] for v in inputs)
    assert list(c.owners) == [sum(1 for v in inputs if not mask[v] and v % 4 == q) for q in range(4)]
    assert sum(c.owners) == c.missing == c.inputs - c.cached
    assert c.seeds == 64 and c.num_blocks == 2
    assert c.block_edges == c.sampled_edges == sum(b.edge_src.size for b in mb.blocks)
    assert c.shapes == tuple((b.src_nodes.size, b.num_dst, b.edge_src.size) for b in mb.blocks)
    assert c.nodes_per_hop == (64, mb.blocks[1].src_nodes.size, mb.blocks[0].src_nodes.size)


def test_counts_round_trip_through_arrays():
    a = BatchCounts(4, 10, 3, (5, 2), 7, 20, 20, 2, ((10, 6, 12), (6, 4, 8)), 2, 8, 12.5, (4, 6, 10), (1, 0), (3, 0))
    b = BatchCounts(4, 11, 0, (9, 2), 6, 19, 19, 2, ((11, 6, 13), (6, 4, 6)), 2, 8, 0.0, (4, 6, 11), (0, 2), (0, 5))
    assert counts_from_arrays(counts_arrays([[a], [b]]), 2) == [[a], [b]]
    plain = BatchCounts(4, 10, 3, (5, 2), 7, 20, 20, 2, ((10, 6, 12), (6, 4, 8)), 2, 8, 12.5, (4, 6, 10))
    assert counts_from_arrays(counts_arrays([[plain, plain]]), 1) == [[plain, plain]]


def test_same_job_and_another_cluster_read_the_counts_back(cache, monkeypatch):
    calls = counting_sampler(monkeypatch)
    first = workload(scenario())
    sampled = len(calls)
    again = workload(scenario())
    other = workload(scenario(profile="h200-2x8-ib-ndr"))
    assert sampled == 4 and len(calls) == sampled  # 4 trainers sampled once, then read back twice
    assert again.tasks == first.tasks and again.batch_stats == first.batch_stats and again.memory == first.memory
    assert other.batch_stats == first.batch_stats
    assert len(list(cache.glob("batches/*/manifest.json"))) == 1


@pytest.mark.parametrize("change", [{"batch_size": 32}, {"fanouts": [4, 3]}, {"framework": "pyg"}, {"replace": True}])
def test_what_decides_the_batches_samples_again(cache, monkeypatch, change):
    calls = counting_sampler(monkeypatch)
    workload(scenario())
    n = len(calls)
    changed = workload(scenario(**change))
    fresh = len(calls) - n
    monkeypatch.setenv("GNNSIM_CACHE", "off")
    assert fresh == 4 and changed.tasks == workload(scenario(**change)).tasks


@pytest.mark.parametrize("bitmaps", [True, False])
@pytest.mark.parametrize("cache_config", [{"policy": "degree", "budget_fraction": 0.1},
                                          {"policy": "random", "budget_fraction": 0.3}])
def test_another_feature_cache_is_recounted_from_the_input_bitmaps(cache, monkeypatch, bitmaps, cache_config):
    import gnnsim.workload.batches as batches

    if not bitmaps:  # too big to keep: the cache is part of the key, another one samples again
        monkeypatch.setattr(batches, "BITMAP_BYTES", 0)
    calls = counting_sampler(monkeypatch)
    workload(scenario())
    n = len(calls)
    changed = workload(scenario(cache=cache_config))
    again = workload(scenario(cache=cache_config))
    fresh_calls = len(calls) - n
    monkeypatch.setenv("GNNSIM_CACHE", "off")
    sampled = workload(scenario(cache=cache_config))
    assert fresh_calls == (0 if bitmaps else 4)
    assert changed.tasks == again.tasks == sampled.tasks and changed.batch_stats == sampled.batch_stats
    assert changed.hit_rate == sampled.hit_rate and changed.memory == sampled.memory
    assert sampled.batch_stats["rows_cached_share"] > 0


def test_a_corrupted_counts_entry_is_rebuilt_with_a_notice(cache, monkeypatch, capsys):
    good = workload(scenario())
    entry = next(cache.glob("batches/*/ints.npy"))
    raw = bytearray(entry.read_bytes())
    raw[-3] ^= 0x7F  # same size, one count changed: only the checksum sees it
    entry.write_bytes(bytes(raw))
    capsys.readouterr()
    calls = counting_sampler(monkeypatch)
    again = workload(scenario())
    err = [line for line in capsys.readouterr().err.splitlines() if "cache" in line]
    assert len(calls) == 4 and again.tasks == good.tasks
    assert len(err) == 1 and "corrupt or stale" in err[0] and "ints.npy" in err[0]


@pytest.mark.parametrize("training", [
    {"sampler": "cluster-gcn", "clusters_per_batch": 2, "cache": {"policy": "presample", "budget_fraction": 0.1}},
    {"mode": "single-node-multigpu", "cache": {"policy": "random", "budget_fraction": 0.2}},
    {"graph_store": "partitioned"}, {"framework": "pyg", "pyg_trim_to_layer": True}, {"sampler": "full"}])
def test_read_back_counts_give_the_workload_sampling_gives(cache, monkeypatch, training):
    cold = workload(scenario(**training))
    calls = counting_sampler(monkeypatch)
    warm = workload(scenario(**training))
    warm_calls = len(calls)
    monkeypatch.setenv("GNNSIM_CACHE", "off")
    fresh = workload(scenario(**training))
    assert warm.tasks == cold.tasks == fresh.tasks and warm.batch_stats == cold.batch_stats == fresh.batch_stats
    assert warm.memory == fresh.memory and warm.iterations_per_epoch == fresh.iterations_per_epoch
    assert warm.hit_rate == fresh.hit_rate
    assert warm_calls == (4 if training.get("cache", {}).get("policy") == "presample" else 0)  # pre-sampling only


@pytest.mark.parametrize("mode", ["minibatch", "single-node-multigpu"])
def test_counts_made_with_a_cache_serve_a_job_without_one(cache, monkeypatch, mode):
    workload(scenario(mode=mode, cache={"policy": "degree", "budget_fraction": 0.2}))
    calls = counting_sampler(monkeypatch)
    plain = workload(scenario(mode=mode))
    assert not calls  # read back, recounted without the cache
    monkeypatch.setenv("GNNSIM_CACHE", "off")
    sampled = workload(scenario(mode=mode))
    assert plain.tasks == sampled.tasks and plain.batch_stats == sampled.batch_stats


def test_forked_sampling_and_metrics_give_the_json_one_process_gives(monkeypatch, forked):
    """Trainers sampled and metrics measured on two forked workers: the same bytes, no worker left."""
    import multiprocessing
    import os

    import gnnsim.workload.batches as batches
    from gnnsim.graph.forked import shared_empty
    from gnnsim.partition import metrics
    from gnnsim.pipeline import simulate

    monkeypatch.setenv("GNNSIM_CACHE", "off")
    s = scenario()
    monkeypatch.setattr(batches, "usable_cores", lambda: 1)
    monkeypatch.setattr(metrics, "usable_cores", lambda: 1)
    one = simulate(s, sensitivity=False).to_json()
    for module in (batches, metrics):
        monkeypatch.setattr(module, "PARALLEL_MIN_EDGES", 0)
        monkeypatch.setattr(module, "usable_cores", lambda: 2)
    monkeypatch.setattr(metrics, "BLOCK", 500)  # many blocks of rows
    assert batches.sampling_processes(4, 1000) == 2 and metrics.metrics_processes(1000) == 2
    pids = shared_empty(4, np.int64)  # which process sampled each trainer (written by the workers)
    rank_minibatches = builder.rank_minibatches

    def sampled_where(graph, seeds, rank, *args, **kwargs):
        pids[rank] = os.getpid()
        return rank_minibatches(graph, seeds, rank, *args, **kwargs)
    monkeypatch.setattr(builder, "rank_minibatches", sampled_where)  # inherited by the fork
    assert simulate(s, sensitivity=False).to_json() == one
    assert os.getpid() not in pids.tolist() and 0 not in pids.tolist()
    assert multiprocessing.active_children() == []


def test_an_error_in_a_sampling_process_reaches_the_caller_and_no_process_is_left(monkeypatch, forked):
    import multiprocessing

    import gnnsim.workload.batches as batches

    monkeypatch.setattr(batches, "PARALLEL_MIN_EDGES", 0)

    def count_rank(r: int) -> list:
        if r == 2:
            raise ValueError("trainer 2 cannot sample")
        return [r]
    with pytest.raises(ValueError, match="trainer 2"):
        batches.trainer_counts(count_rank, 4, stored_edges=10)
    assert batches.trainer_counts(lambda r: [r], 3, stored_edges=10) == [[0], [1], [2]]
    assert multiprocessing.active_children() == []
