"""Measured-run records, record -> scenario, and the published-runs score.

``data/runs-sample.jsonl`` holds six records copied from shared/published-dev/runs.jsonl
(public measurements with their sources).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnnsim.cli import main
from gnnsim.errors import RecordError
from gnnsim.validation.published import Row, group_scores, summarize
from gnnsim.validation.record_scenario import record_scenario, schema_has
from gnnsim.validation.records import load_records, parse_record

SAMPLE = Path(__file__).parent / "data" / "runs-sample.jsonl"


def _line(**over) -> str:
    rec = {"id": "r1", "source": "test", "system": "DGL 1.0",
           "hardware": {"gpu": "NVIDIA A100 80GB", "gpus_per_node": 2, "nodes": 1},
           "dataset": {"name": "ogbn-products"},
           "model": {"type": "GraphSAGE", "layers": 2, "hidden": 64, "fanouts_seed_first": [10, 5], "batch_size": 512},
           "pipeline": {"sampling_device": "cpu", "feature_placement": "host", "num_workers": 4, "dtype": "float32"},
           "result": {"epoch_time_s": 10.0}, "group": "g"}
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            rec[section] = {**rec[section], field: value}
        else:
            rec[section] = value
    return json.dumps(rec)


def test_sample_records_read_with_their_fields():
    recs = load_records(SAMPLE)
    assert [r.id for r in recs] == ["dev-001", "dev-005", "dev-018", "dev-019", "dev-034", "dev-045"]
    assert recs[0].model.fanouts_seed_first == [25, 10] and recs[0].result.epoch_time_s == 44.13
    assert recs[2].hardware_stated is False and recs[2].where.endswith("runs-sample.jsonl:3")


@pytest.mark.parametrize("text, expect", [
    ("{not json", "x.jsonl:7: not a JSON object"),
    ("[1, 2]", "x.jsonl:7: expected a JSON object"),
    (_line(result={}), "x.jsonl:7: result: "),
    (_line(model__batch_size=True), "x.jsonl:7: model.batch_size"),
    (_line(model__hidden=-4), "x.jsonl:7: model.hidden"),
    (_line(pipeline__sampling_device="tpu"), "x.jsonl:7: pipeline.sampling_device"),
    (_line(hardware__gpus=4), "x.jsonl:7: hardware.gpus: unknown field. Allowed: "),
    (json.dumps({"id": "a", "source": "s", "group": "g"}), "x.jsonl:7: result: Field required"),
])
def test_a_bad_record_names_file_line_and_field(text, expect):
    with pytest.raises(RecordError) as err:
        parse_record(text, "x.jsonl", 7)
    assert str(err.value).startswith(expect)


def test_nan_is_not_a_measurement():
    with pytest.raises(RecordError, match="result.epoch_time_s"):
        parse_record(_line(result={"epoch_time_s": float("nan")}).replace("NaN", "NaN"), "x.jsonl", 1)


def test_repeated_ids_and_empty_files_are_errors(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(_line() + "\n\n" + _line() + "\n")
    with pytest.raises(RecordError, match=r"runs.jsonl:3: id: 'r1' repeats line 1"):
        load_records(path)
    path.write_text("\n")
    with pytest.raises(RecordError, match="no records"):
        load_records(path)


def test_a_record_becomes_the_scenario_it_describes():
    m = record_scenario(parse_record(_line(), "x.jsonl", 1))
    s = m.scenario
    assert m.status == ("partial" if m.approximations else "expressible")
    assert s["training"]["fanouts"] == [10, 5] and s["training"]["batch_size"] == 512  # seed-first, as given
    assert s["training"]["framework"] == "dgl" and s["model"] == {"name": "graphsage", "hidden_dim": 64}
    assert s["cluster"] == {"profile": "dgx-a100-80gb-1", "device_profile": "a100-sxm4-80gb", "num_nodes": 1,
                            "trainers_per_node": 2}
    assert s["graph"] == {"source": "preset:ogbn-products", "scale": 1.0}


def test_what_cannot_be_expressed_is_named():
    m = record_scenario(parse_record(_line(model__type="RGCN"), "x.jsonl", 1))
    assert m.scenario is None and m.missing == ["heterogeneous model (RGCN/RGAT)"]
    m = record_scenario(parse_record(_line(model__hidden=None, dataset={"name": None}), "x.jsonl", 1))
    assert "dataset not named" in m.missing and "model hyper-parameters not stated: hidden" in m.missing
    m = record_scenario(parse_record(_line(pipeline__feature_placement="disk+gpu-cache"), "x.jsonl", 1))
    assert "disk feature tier (features read from SSD)" in m.missing


def test_gpu_sampling_follows_the_schema():
    m = record_scenario(parse_record(_line(pipeline__sampling_device="uva"), "x.jsonl", 1))
    if schema_has("training.sampling.device"):
        assert m.scenario["training"]["sampling"] == {"device": "uva"}
    else:
        assert m.missing == ["UVA sampling (GPU kernels on a graph pinned in host memory)"]


def test_an_unknown_gpu_is_an_error_naming_the_line():
    rec = parse_record(_line(hardware__gpu="Imaginary X9"), "runs.jsonl", 12)
    with pytest.raises(RecordError, match=r"runs.jsonl:12: hardware.gpu: unknown GPU 'Imaginary X9'"):
        record_scenario(rec)


def test_unnamed_hardware_runs_on_a_stand_in_and_counts_only_in_ratios():
    m = record_scenario(parse_record(_line(hardware_stated=False, hardware={"gpu": None, "gpus_per_node": 1}),
                                     "x.jsonl", 1))
    assert m.stand_in_hardware and any(a.startswith("no hardware named") for a in m.approximations)


def _row(rid, group, measured, predicted, named=True, metric="epoch_time_s"):
    return Row(rid, group, "expressible", metric, measured, predicted, predicted / measured - 1, named_hardware=named)


def test_group_order_and_ratios_by_hand():
    rows = [_row("a", "g", 10.0, 5.0), _row("b", "g", 20.0, 15.0), _row("c", "g", 40.0, 12.0),
            _row("x", "h", 1.0, 1.0, named=False), _row("y", "h", 2.0, 3.0, named=False)]
    g, h = group_scores(rows)
    assert g["spearman_rho"] == pytest.approx(0.5)  # ranks (1, 3, 2) against (1, 2, 3)
    assert [x["error"] for x in g["ratios"]] == pytest.approx([3.0 / 2.0 - 1, 2.4 / 4.0 - 1])
    assert h["spearman_rho"] == 1.0 and h["ratios"][0]["error"] == pytest.approx(3.0 / 2.0 - 1)
    s = summarize(rows)
    # only named hardware counts in the absolute error: -50%, -25%, -70%
    assert s["median_abs_error"] == pytest.approx(0.5) and s["median_signed_error"] == pytest.approx(-0.5)
    assert s["within_50"] == pytest.approx(2 / 3) and s["groups_in_order"] == 1


def test_throughput_is_compared_as_time_per_sample():
    rows = [_row("a", "g", 100.0, 50.0, metric="throughput_samples_per_s"),
            _row("b", "g", 200.0, 200.0, metric="throughput_samples_per_s")]
    g = group_scores(rows)[0]
    assert g["ratios"][0]["measured"] == pytest.approx(0.5) and g["ratios"][0]["predicted"] == pytest.approx(0.25)


def test_cli_quick_run_predicts_and_scores(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["published", str(SAMPLE), "--only", "dev-018", "dev-019", "--quick", "--json", str(out),
                 "--md", str(tmp_path / "P.md")]) == 0
    data = json.loads(out.read_text())
    rows = {r["id"]: r for r in data["records"]}
    for rid in ("dev-018", "dev-019"):
        r = rows[rid]
        assert r["predicted"] > 0 and r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1)
        assert r["scenario"]["graph"]["scale"] == 0.017 and not r["named_hardware"]  # ~1M of 57M edges
    assert rows["dev-034"]["skipped"] and rows["dev-045"]["missing"] == ["model not stated"]
    group = next(g for g in data["summary"]["groups"] if g["group"].startswith("dgl-pr1333"))
    assert group["predicted"] == 2 and "spearman_rho" in group
    md = (tmp_path / "P.md").read_text()
    assert "## What gnnsim cannot express yet" in md
    by_stage = md.split("Predicted iteration by stage")[1].split("## Ratio groups")[0]
    row = next(line for line in by_stage.splitlines() if line.startswith("| dev-018 | "))
    assert float(row.split("|")[2]) == pytest.approx(rows["dev-018"]["iteration_s"] * 1e3, abs=0.01)  # by stage
    assert "coverage" in capsys.readouterr().out


def test_cli_bad_records_exit_2_and_write_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(SAMPLE.read_text().splitlines()[0] + "\n{\"id\": 3\n")
    out = tmp_path / "p.json"
    assert main(["published", str(bad), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "Traceback" not in err and not out.exists()
    assert main(["published", str(SAMPLE), "--json", str(tmp_path / "missing" / "p.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_quick_picks_one_record_per_dataset_on_small_graphs(tmp_path):
    from gnnsim.commands.published import run_published

    data = run_published(str(SAMPLE), quick=True)
    done = [r for r in data["records"] if r["predicted"] is not None]
    assert [r["id"] for r in done] == ["dev-001", "dev-018", "dev-034"]  # papers100M, reddit, products
    assert all(r["scenario"]["simulation"]["iterations"] == 3 for r in done)
    papers = done[0]
    assert papers["scenario"]["graph"]["scale"] == 0.00062 and papers["graph_scale"] < 1
    # the epoch is the simulated iteration times the real graph's iterations: 1,207,179 train / 4 GPUs / 1000
    assert papers["predicted"] == pytest.approx(302 * papers["iteration_s"], rel=1e-9)


def test_a_half_precision_record_sets_the_model_dtype():
    m = record_scenario(parse_record(_line(pipeline__dtype="bfloat16"), "x.jsonl", 1))
    assert m.scenario["model"]["dtype"] == "bfloat16"
    assert record_scenario(parse_record(_line(pipeline__dtype="int4"), "x.jsonl", 1)).missing == ["dtype int4"]


def test_graphbolt_layer_neighbor_sampling_is_labor_with_its_dependencies():
    kind = "GraphSAGE (PyG SAGEConv), sampler sample_layer_neighbor"
    m = record_scenario(parse_record(_line(model__type=kind), "x.jsonl", 1))
    assert not m.missing and m.scenario["training"]["sampler"] == "labor"
    assert "labor_layer_dependency" not in m.scenario["training"]
    m = record_scenario(parse_record(_line(model__type=kind, notes="layer_dependency=True. ogbn-products"), "x.jsonl", 1))
    assert m.scenario["training"]["labor_layer_dependency"] is True
    m = record_scenario(parse_record(_line(model__type=kind, notes="batch_dependency=32. x"), "x.jsonl", 1))
    assert any("batch_dependency=32 not modelled" in a for a in m.approximations)


def test_old_loaders_gather_rows_in_the_training_process():
    old = record_scenario(parse_record(_line(system="DGL 0.7.1"), "x.jsonl", 1)).scenario["training"]
    new = record_scenario(parse_record(_line(system="DGL 1.1"), "x.jsonl", 1)).scenario["training"]
    pyg = record_scenario(parse_record(_line(system="PyG 2.5"), "x.jsonl", 1)).scenario["training"]
    assert old["loader"] == {"workers": 4, "gather": "main"} and new["loader"] == {"workers": 4, "gather": "prefetch"}
    assert pyg["loader"] == {"workers": 4}  # NeighborLoader filters rows in its workers
    assert old["prefetch_depth"] == new["prefetch_depth"] == 8  # torch DataLoader: 2 batches per worker


def test_a_distdgl_record_runs_as_partitioned_minibatch_and_others_across_machines_are_named():
    m = record_scenario(parse_record(_line(system="DistDGL 0.7", hardware__nodes=2, hardware__gpus_per_node=4),
                                     "x.jsonl", 1), quick=True)
    s = m.scenario
    assert s["training"]["mode"] == "minibatch" and s["training"]["graph_store"] == "partitioned"
    assert s["partition"]["method"] == "metis" and s["cluster"]["num_nodes"] == 2
    from gnnsim.config import scenario_from_dict
    from gnnsim.pipeline import simulate

    result = simulate(scenario_from_dict(s), sensitivity=False)
    assert result.cluster.num_trainers == 8 and result.analysis.epoch_time_s > 0
    m = record_scenario(parse_record(_line(hardware__nodes=2), "x.jsonl", 1))
    assert m.scenario is None and m.missing[0].startswith("multi-node training with the whole graph")


def test_a_scaled_stand_in_prices_the_sampler_at_the_real_size():
    papers = record_scenario(parse_record(_line(dataset={"name": "ogbn-papers100M"}), "x.jsonl", 1)).scenario["graph"]
    products = record_scenario(parse_record(_line(), "x.jsonl", 1)).scenario["graph"]
    assert papers == {"source": "preset:ogbn-papers100M", "scale": 0.02, "stands_for_nodes": 111_059_956}
    assert "stands_for_nodes" not in products


def test_dgl_generations_map_to_their_sampler_and_their_scripts_feature_placement():
    def mapped(system, placement=None, sampling="cpu"):
        rec = parse_record(_line(system=system, pipeline__feature_placement=placement,
                                 pipeline__sampling_device=sampling), "x.jsonl", 1)
        return record_scenario(rec)

    old, new = mapped("DGL 0.7.1"), mapped("DGL 0.7.2")
    assert old.scenario["training"]["dgl_sampler"] == "pre_0_7_2" and "dgl_sampler" not in new.scenario["training"]
    assert mapped("DGL 0.4.3 (pre-0.5 sampling API)").scenario["training"]["dgl_sampler"] == "pre_0_7_2"
    # train_sampling.py of DGL 0.6-0.7 keeps the features on the GPU unless --data-cpu
    assert old.scenario["training"]["features"] == {"placement": "gpu"}
    assert any("--data-cpu" in a for a in old.approximations)
    assert "features" not in mapped("DGL 0.5.3").scenario["training"]  # 0.5: host rows
    assert "features" not in mapped("DGL 0.7.1", placement="host").scenario["training"]  # stated wins
    assert "features" not in mapped("DGL 1.1").scenario["training"]
