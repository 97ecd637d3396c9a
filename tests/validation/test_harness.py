"""The validation harness: scenario files, figures worked out by hand, and one real slice of
the quick subset whose output files are checked for form (not for accuracy)."""

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml

from gnnsim.errors import ScenarioError
from gnnsim.validation.figures import accuracy, rankings, trainer_blocks
from gnnsim.validation.harness import run_suite, speed_factor
from gnnsim.validation.markdown import results_markdown
from gnnsim.validation.suite import load_suite, load_validation_scenario

SUITE = Path(__file__).resolve().parents[2] / "validation" / "scenarios"


def test_suite_scenarios_load_and_cover_the_issue():
    suite = load_suite(SUITE)
    assert len([s for s in suite if s.expect == "success"]) >= 10
    assert {s.scenario.partition.method for s in suite} >= {"metis", "random", "ldg"}
    sources = {s.scenario.graph.source for s in suite}
    assert {"sbm", "rmat", "preset:ogbn-products"} <= sources
    assert {s.ranks for s in suite} >= {2, 4}
    assert any(s.shaped_link for s in suite) and any(s.expect == "failure" for s in suite)
    for s in suite:
        assert s.scenario.cluster.device_profile == "calibrated/validation", s.name
    quick = load_suite(SUITE, quick=True)
    assert 0 < len(quick) < len(suite)
    assert len({s.name for s in suite}) == len(suite)


def test_unknown_validation_key_is_an_error(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("validation: {rank: 2}\ngraph: {num_nodes: 100}\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: validation: unknown key\(s\) rank"):
        load_validation_scenario(p)
    with pytest.raises(ScenarioError, match="no scenario named nope"):
        load_suite(SUITE, only=["nope"])


def _row(name, measured, predicted, groups=(), stages=None, status="ok"):
    rel = {"iteration_time": (predicted - measured) / measured, **(stages or {})}
    return {"name": name, "file": f"{name}.yaml", "description": "", "ranks": 2, "groups": list(groups),
            "expect": "success", "status": status, "shaped_link": None, "leftover_processes": [],
            "leftover_namespaces": [], "as_expected": True, "error": "boom" if status != "ok" else None,
            "report": {"relative_error": rel, "measured": {"iteration_time_s": measured, "breakdown": {}},
                       "predicted": {"iteration_time_s": predicted, "breakdown": {}}}}


def _results_stub(acc, rows):
    return {"host": {"host": "box", "cpu_model": "cpu", "cpu_cores": 2, "machine": "x86_64", "kernel": "6",
                     "python": "3", "torch": "2", "numpy": "2"},
            "generated": "now", "command": "python validation/run.py", "wall_s": 1.0,
            "calibration": {"profile": "calibrated/validation", "quick": True},
            "shaped_links": {}, "netem_available": False, "accuracy": acc,
            "rankings": rankings(rows), "scenarios": rows,
            "targets": {"iteration_mape": 0.1, "stage_error": 0.2}}


def test_accuracy_and_rankings_by_hand():
    rows = [_row("a", 10.0, 9.0, ["g"], {"fetch": -0.3, "forward": 0.1}),
            _row("b", 20.0, 22.0, ["g", "h"], {"fetch": 0.1}),
            _row("c", 30.0, 15.0, ["g", "h"]),
            _row("d", 1.0, 1.0, ["h"], status="failed")]
    acc = accuracy(rows)
    assert acc["scenarios_ok"] == 3
    assert acc["iteration_mape"] == pytest.approx((0.1 + 0.1 + 0.5) / 3)
    assert acc["iteration_mean_signed_error"] == pytest.approx((-0.1 + 0.1 - 0.5) / 3)
    assert (acc["stage_errors_within_target"], acc["stage_errors_total"]) == (2, 3)
    by = {g["group"]: g for g in rankings(rows)}
    # g: measured a < b < c, predicted a < c < b: one swap of three -> rho = 1 - 6*2/(3*8) = 0.5
    assert by["g"]["measured_order"] == ["a", "b", "c"] and by["g"]["predicted_order"] == ["a", "c", "b"]
    assert by["g"]["spearman_rho"] == pytest.approx(0.5) and by["g"]["order_kept"] is False
    # h: d failed; b, c measured b < c but predicted c < b -> rho -1
    assert by["h"]["missing"] == ["d"] and by["h"]["spearman_rho"] == pytest.approx(-1.0)

    text = results_markdown(_results_stub(acc, rows))
    assert "`box`" in text and "| iteration time MAPE | 23.3% | <= 10% | **missed** |" in text
    assert "| g | a < b < c | a < c < b | +0.50 | **no** | n/a |" in text
    assert "- **d** failed: `boom`." in text and "## Retried runs" not in text
    rows[0]["first_attempt_error"] = "real run failed: rank 0: exit code -6"
    assert "- **a**: `real run failed: rank 0: exit code -6`" in results_markdown(
        {**json.loads(json.dumps(_results_stub(acc, rows)))})


def test_ranking_gaps_within_noise_are_flagged():
    # b is 1 ms slower than a; per-iteration spread 0.2 ms (n=4): stderr 0.1 ms each, gap 1 ms >> 2*0.14 ms.
    # c is 0.1 ms slower than b: within noise.
    a = {**_row("a", 0.010, 0.010, ["g"]), "measured_iteration_times_s": [0.0099, 0.0101, 0.0099, 0.0101]}
    b = {**_row("b", 0.011, 0.012, ["g"]), "measured_iteration_times_s": [0.0109, 0.0111, 0.0109, 0.0111]}
    c = {**_row("c", 0.0111, 0.013, ["g"]), "measured_iteration_times_s": [0.0110, 0.0112, 0.0110, 0.0112]}
    (g,) = rankings([c, a, b])
    assert g["measured_order"] == ["a", "b", "c"] and g["gaps_resolved"] == [True, False]


@pytest.mark.slow  # calibrates and runs the quick suite for real: about 2.5 minutes
@pytest.mark.realrun
def test_quick_subset_writes_well_formed_results(tmp_path):
    """The whole --quick subset, as `validation/run.py --quick --repeat` runs it (CI runs this)."""
    results = run_suite(SUITE, tmp_path, quick=True, progress=lambda *a, **k: None, repeat=True)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["quick"] is True and data["host"]["cpu_cores"] == os.cpu_count()
    status = {r["name"]: r["status"] for r in data["scenarios"]}
    assert status.pop("sbm-random-veth-1gbit") in ("ok", "skipped")  # skipped where namespaces are not allowed
    pyg = status.pop("pyg-sage")  # the PyG trainer's quick scenario, where torch_geometric imports
    assert pyg == ("skipped" if importlib.util.find_spec("torch_geometric") is None else "ok")
    assert status == {"sbm-metis": "ok", "sbm-random": "ok", "robust-crash": "failed", "robust-timeout": "failed"}
    ok = next(r for r in data["scenarios"] if r["name"] == "sbm-metis")
    rep = ok["report"]
    assert rep["measured"]["iteration_time_s"] > 0 and rep["predicted"]["iteration_time_s"] > 0
    assert set(rep["measured"]["breakdown"]) == {"sample", "fetch", "forward", "backward", "allreduce", "optimizer"}
    scenario = yaml.safe_load((SUITE / "01-sbm-metis.yaml").read_text())
    assert len(ok["measured_iteration_times_s"]) == scenario["simulation"]["iterations"]
    if data["calibration"]["cpu_sharing"]:  # the node's effective cores probed around the run
        assert ok["capacity"]["pairs"] == 8 and ok["capacity"]["probed_cores"] > 0
    crash = next(r for r in data["scenarios"] if r["name"] == "robust-crash")
    assert "rank 0" in crash["error"] and crash["as_expected"]
    assert all(not r["leftover_processes"] and not r["leftover_namespaces"] for r in data["scenarios"])
    assert data["accuracy"]["scenarios_ok"] >= 2 and data["calibration"]["provenance"]["quick"] is True
    md = (tmp_path / "RESULTS.md").read_text()
    assert md.startswith("# Validation results") and data["host"]["host"] in md
    assert "| sbm-metis | 2 | loopback |" in md and "**robust-crash** failed (expected" in md
    assert results["accuracy"] == data["accuracy"]
    # every job that ran was measured a second time, against the same prediction
    again = next(r for r in data["scenarios"] if r["name"] == "sbm-metis")["repeat"]
    assert again["report"]["predicted"] == rep["predicted"] and again["report"]["measured"]["iteration_time_s"] > 0
    assert data["repeat"]["between_passes"]["scenarios_ok"] == data["accuracy"]["scenarios_ok"]
    assert "## Measured twice" in md and data["command"].endswith("--quick --repeat")
    if pyg == "ok":  # its own figures, kept out of the headline ones
        block = data["trainers"]["pyg"]
        assert block["scenarios"] == ["pyg-sage"] and block["accuracy"]["scenarios_ok"] == 1
        assert "## PyG trainer" in md and "pyg-sage *(PyG)*" in md
        assert data["calibration"]["frameworks"]["pyg"]["sources"][0]["basis"] == "calibrated"


def test_drift_corrected_figures_sit_beside_the_headline():
    """A row with a host-speed probe gets its drift-corrected error in the table and in a
    second set of figures; the headline figures stay the uncorrected ones."""
    rows = [_row("a", 10.0, 12.0, ["g"]), _row("b", 20.0, 22.0, ["g"])]
    rows[0]["speed"] = {"reference_ms": 3.0, "probes_ms": [3.6, 3.9], "factor": speed_factor(3.0, [3.6, 3.9])}
    rows[0]["report_drift_corrected"] = {"relative_error": {"iteration_time": 0.05, "forward": -0.1}}
    assert rows[0]["speed"]["factor"] == pytest.approx(0.8)
    results = {**_results_stub(accuracy(rows), rows), "accuracy_drift_corrected": accuracy(rows, "report_drift_corrected")}
    assert results["accuracy_drift_corrected"]["scenarios_ok"] == 1  # b was not probed
    assert results["accuracy_drift_corrected"]["iteration_mape"] == pytest.approx(0.05)
    text = results_markdown(results)
    assert "| iteration time MAPE | 15.0% | <= 10% | **missed** |" in text
    assert "| iteration time MAPE with the host's drift taken out (see below) | 5.0% | <= 10% | met |" in text
    assert "| x0.80 | +5.0% |" in text and "*Host speed*" in text
    # the probes' own spread says how steady the host was: here 3.6 and 3.9 ms, a CV of 4%
    assert "| 3.60-3.90 ms (x1.08, CV 4%) | CV <= 10% | steady enough |" in text
    rows[1]["speed"] = {"reference_ms": 3.0, "probes_ms": [3.0, 7.0], "factor": speed_factor(3.0, [3.0, 7.0])}
    rows[1]["report_drift_corrected"] = {"relative_error": {"iteration_time": 0.3}}
    assert "3.00-7.00 ms (x2.33, CV 35%) | CV <= 10% | **too noisy**" in results_markdown(
        {**_results_stub(accuracy(rows), rows), "accuracy_drift_corrected": accuracy(rows, "report_drift_corrected")})
    # a probe of the node's effective cores shows beside the speed
    rows[0]["capacity"] = {"calibrated_cores": 2.0, "probed_cores": 1.8, "factor": 0.9, "pairs": 8}
    assert "| x0.80, cores x0.90 | +5.0% |" in results_markdown(results)
    # results written before the probe existed render as before
    old = results_markdown(_results_stub(accuracy(rows), [_row("b", 20.0, 22.0)]))
    assert "drift taken out (see below)" not in old and "*Host speed*" not in old and "host speed over" not in old


def test_a_second_pass_reports_the_hosts_noise_floor_beside_the_model():
    """Jobs measured twice: how far apart the two runs are, the model against the second,
    and whether the measured order of a group held between the passes."""
    from gnnsim.validation.figures import between_passes_rows, mean_of_passes_rows, second_pass_rows

    rows = [_row("a", 10.0, 11.0, ["g"]), _row("b", 12.0, 12.0, ["g"]), _row("c", 5.0, 5.0, [], status="failed")]
    for r, second in ((rows[0], 12.5), (rows[1], 12.0)):
        bd = {"fetch": {"time_s": second / 2}}
        r["report"]["measured"]["breakdown"] = {"fetch": {"time_s": r["report"]["measured"]["iteration_time_s"] / 2}}
        r["repeat"] = {"report": {"measured": {"iteration_time_s": second, "breakdown": bd},
                                  "predicted": r["report"]["predicted"],
                                  "relative_error": {"iteration_time": (r["report"]["predicted"]["iteration_time_s"]
                                                                        - second) / second}}}
    between = accuracy(between_passes_rows(rows))
    assert between["scenarios_ok"] == 2
    assert between["iteration_mape"] == pytest.approx((0.2 + 0.0) / 2)  # a: 10 against 12.5
    assert between["stage_mape"]["fetch"] == pytest.approx(0.1)
    second = accuracy(second_pass_rows(rows))
    assert second["iteration_mape"] == pytest.approx((0.12 + 0.0) / 2)  # a: 11 against 12.5
    (order,) = rankings(between_passes_rows(rows))
    assert order["order_kept"] is False  # a < b first, b < a (12 < 12.5) second
    mean = accuracy(mean_of_passes_rows(rows))
    assert mean["iteration_mape"] == pytest.approx((11.0 / 11.25 - 1) * -1 / 2)  # a: 11 against 11.25; b exact
    results = {**_results_stub(accuracy(rows), rows),
               "repeat": {"accuracy": second, "rankings": rankings(second_pass_rows(rows)),
                          "between_passes": between, "rankings_between_passes": rankings(between_passes_rows(rows)),
                          "accuracy_mean": mean, "rankings_mean": rankings(mean_of_passes_rows(rows))}}
    text = results_markdown(json.loads(json.dumps(results)))
    assert "iteration time, first pass against the second (MAPE) | 10.0% |" in text
    assert "| ranking groups in the same measured order in both passes | 0 of 1 |" in text
    assert "| iteration time MAPE against the second pass | 6.0% | <= 10% | met |" in text
    assert "| a | 10000.00 | 12500.00 | -20.0% | 11000.00 | +10.0% | -12.0% | fetch -20.0% |" in text
    assert "| g | a < b | b < a | **no** | a < b |" in text
    assert "| iteration time MAPE against the mean of both passes | 1.1% (-1.1% signed) | <= 10% | met |" in text
    assert "| ranking groups in the order of the mean of both passes | 1 of 1 | all | met |" in text
    # a second run that failed says so; results without a second pass render as before
    rows[1]["repeat"] = {"error": "real run failed: rank 1: boom"}
    assert "| b | 12000.00 | failed: `real run failed: rank 1: boom` |" in results_markdown(results)
    assert "## Measured twice" not in results_markdown(_results_stub(accuracy(rows), rows))


def test_pyg_scenarios_run_by_the_pyg_trainer_with_their_groups():
    pyg = [s for s in load_suite(SUITE) if s.trainer == "pyg"]
    assert {s.ranks for s in pyg} == {2, 4}
    assert {s.scenario.model.name for s in pyg} >= {"graphsage", "gcn", "gat"}
    assert len({s.scenario.training.batch_size for s in pyg}) >= 2
    assert len({tuple(s.scenario.training.fanouts) for s in pyg}) >= 2
    assert len({s.scenario.model.hidden_dim for s in pyg}) >= 2
    groups = {g for s in pyg for g in s.groups}
    assert groups >= {"pyg-batch", "pyg-fanout", "pyg-hidden", "pyg-ranks"}
    for g in groups:
        assert sum(g in s.groups for s in pyg) >= 2, g
    for s in pyg:
        assert s.scenario.training.framework == "pyg" and s.scenario.training.mode == "single-node-multigpu"


def test_trainer_must_be_known(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("validation: {trainer: dgl}\ngraph: {num_nodes: 100}\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: validation.trainer must be one of torch, pyg"):
        load_validation_scenario(p)


def test_another_trainers_rows_get_their_own_figures_and_section():
    own = [_row("a", 10.0, 11.0, ["g"]), _row("b", 20.0, 19.0, ["g"])]
    pyg = [{**_row("p1", 10.0, 10.0, ["pg"]), "trainer": "pyg"}, {**_row("p2", 32.0, 20.0, ["pg"]), "trainer": "pyg"}]
    blocks = trainer_blocks(own + pyg)
    assert set(blocks) == {"pyg"} and blocks["pyg"]["scenarios"] == ["p1", "p2"]
    assert blocks["pyg"]["accuracy"]["iteration_mape"] == pytest.approx(0.1875)
    ratio = blocks["pyg"]["ratios"][0]
    assert ratio["base"] == "p1" and ratio["ratios"][0]["measured"] == pytest.approx(3.2)
    assert ratio["ratios"][0]["predicted"] == pytest.approx(2.0) and not ratio["within_target"]
    assert blocks["pyg"]["targets"] == {"iteration_mape": 0.15, "stage_error": 0.25, "ratio_error": 0.15}
    results = {**_results_stub(accuracy(own), own + pyg), "rankings": rankings(own), "trainers": blocks}
    md = results_markdown(results)
    assert "## PyG trainer" in md and "| iteration time MAPE | 18.8% (-18.8% signed) | <= 15% | **missed** |" in md
    assert "p2 3.20x / 2.00x (-37.5%)" in md and "| p2 *(PyG)* | 2 | loopback |" in md
