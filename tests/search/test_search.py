"""The search in this process: each point is the full simulator's answer, shared work is
built once, a failing point is recorded and the rest go on."""

import pytest

import gnnsim
from gnnsim.search import NoFeasiblePointError, SearchError, search
from gnnsim.search import runners

from .conftest import GRID


def test_each_point_is_what_simulate_predicts(tiny):
    result = search(tiny, GRID, workers=0)
    assert len(result.points) == 8 and result.simulated == 8 and result.resumed == 0
    for record in result.points[::3]:
        sets = [f"{k}={v}" for k, v in record["settings"].items()]
        alone = gnnsim.simulate(gnnsim.load_scenario(tiny, sets), sensitivity=False).to_dict()
        assert record["epoch_time_s"] == alone["epoch_time_s"]
        assert record["cost_per_epoch_usd"] == alone["cost_per_epoch_usd"]
        assert record["bottleneck"]["stage"] == alone["bottleneck"]["stage"]
        assert record["memory"]["fits"] == alone["memory"]["fits"]
        assert record["memory"]["peak_bytes"] == max(alone["memory"]["peak_bytes"])


def test_graph_and_partitions_are_built_once(tiny, monkeypatch):
    built = {"graph": 0, "partition": 0}

    def counting(name, fn):
        def wrapped(*args):
            built[name] += 1
            return fn(*args)
        return wrapped

    monkeypatch.setattr(runners, "build_graph_for", counting("graph", runners.build_graph_for))
    monkeypatch.setattr(runners, "build_partition_for", counting("partition", runners.build_partition_for))
    search(tiny, GRID, workers=0)
    assert built == {"graph": 1, "partition": 4}  # 2 methods x 2 part counts; batch size shares them


def test_a_failing_point_is_recorded_and_the_rest_go_on(tiny):
    result = search(tiny, ["partition.method=random,nosuch", "training.batch_size=32,64"], workers=0)
    failed = [r for r in result.table if r.status == "error"]
    assert [r.settings["partition.method"] for r in failed] == ["nosuch", "nosuch"]
    assert all("unknown partition method 'nosuch'" in r.record["error"] for r in failed)
    assert result.chosen.settings["partition.method"] == "random" and result.table[-1].rank == 0


def test_a_combination_that_cannot_be_planned_is_recorded(tiny):
    # gat needs hidden_dim divisible by heads: 16 / 3 is not, 16 / 4 is
    result = search(tiny, ["model.name=gat", "model.heads=3,4"], workers=0)
    by_heads = {r.settings["model.heads"]: r for r in result.table}
    assert by_heads["3"].status == "error" and "multiple of model.heads" in by_heads["3"].record["error"]
    assert by_heads["4"].status == "ok"


def test_objective_cost_and_limits(tiny):
    result = search(tiny, ["cluster.profile=a100-2x8-eth100,g5-24x-4-eth50", "training.batch_size=32,64"],
                    overrides=["cluster.num_nodes=1", "cluster.trainers_per_node=2"], workers=0, objective="cost",
                    epochs=10)
    cheapest = min(result.table, key=lambda r: (r.cost_per_epoch_usd, r.epoch_time_s))
    assert result.chosen.index == cheapest.index
    assert result.chosen.cost_per_run_usd == pytest.approx(10 * cheapest.cost_per_epoch_usd)
    fastest = min(r.epoch_time_s for r in result.table)
    assert {r.index for r in result.front} >= {result.chosen.index}
    assert any(r.epoch_time_s == fastest for r in result.front)


def test_limits_no_point_meets_raise_with_the_result(tiny):
    with pytest.raises(NoFeasiblePointError) as err:
        search(tiny, ["training.batch_size=32,64"], workers=0, max_epoch_s=1e-9)
    assert "no point meets --max-epoch-s 1e-09" in str(err.value) and "fastest that fits" in str(err.value)
    assert err.value.result is not None and err.value.result.chosen is None


def test_every_point_failing_is_an_error(tiny):
    with pytest.raises(SearchError, match="every point failed"):
        search(tiny, ["partition.method=nosuch"], workers=0)


def test_a_sample_runs_only_its_points(tiny):
    result = search(tiny, GRID, workers=0, sample=3, seed=7)
    assert len(result.points) == 3 and result.grid_size == 8
    assert [p["index"] for p in result.points] == sorted(p["index"] for p in result.points)


def test_a_point_larger_than_this_machine_is_refused_before_it_runs(tiny):
    # 10^15 seeds a batch need 8 PB by the preflight's lower bound: recorded, never allocated
    result = search(tiny, ["training.batch_size=32,1000000000000000"], workers=0)
    refused = next(r for r in result.table if r.status == "error")
    assert refused.settings["training.batch_size"] == "1000000000000000"
    assert refused.record["error"].startswith("ScenarioError: training.batch_size: the job needs at least")
    assert result.chosen.settings["training.batch_size"] == "32"


def test_points_that_do_not_fit_in_gpu_memory_are_marked_and_never_chosen(tiny):
    # a third layer of 100,000 x 100,000 weights: 4e10 bytes each of weights, gradients and two Adam
    # moments, 149 GiB at least against the A100's 80 GiB
    deep = ["training.fanouts=[4,3,2]"]
    result = search(tiny, ["model.hidden_dim=16,100000"], overrides=deep, workers=0)
    big = next(r for r in result.table if r.settings["model.hidden_dim"] == "100000")
    assert not big.fits and big.rank == 0 and not big.on_front
    assert big.record["memory"]["peak_bytes"] > 4 * 4 * 100_000**2 > big.record["memory"]["capacity_bytes"]
    assert result.chosen.settings["model.hidden_dim"] == "16"
    with pytest.raises(NoFeasiblePointError, match="no point fits in GPU memory: the smallest needs"):
        search(tiny, ["model.hidden_dim=100000"], overrides=deep, workers=0)


def test_points_whose_features_outgrow_the_machines_ram_are_never_chosen(tiny):
    # g5.8xlarge: one A10G and 128 GiB of RAM. 1,500 rows of 2^25 float32 (128 MiB each) are 187.5 GiB:
    # too much for one machine, half of it on each of two; a batch of 8 with fan-out 2 fits the GPU
    small = ["cluster.profile=g5-8x-8-eth25", "cluster.trainers_per_node=1", "graph.feature_dim=33554432",
             "training.batch_size=8", "training.fanouts=[2]"]
    result = search(tiny, ["cluster.num_nodes=1,2"], overrides=small, workers=0)
    one = next(r for r in result.table if r.settings["cluster.num_nodes"] == "1")
    assert one.record["memory"]["fits"] and one.record["host_memory"]["fits"] is False and not one.fits
    assert result.chosen.settings["cluster.num_nodes"] == "2" and result.chosen.record["host_memory"]["fits"]
    with pytest.raises(NoFeasiblePointError, match="no point fits in its machines' RAM: the smallest needs 187.5 GiB"):
        search(tiny, ["cluster.num_nodes=1"], overrides=small, workers=0)
