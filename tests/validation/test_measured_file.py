"""gnnsim validate S.yaml --measured RUN.json: a scenario against a run measured elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnnsim.cli import main
from gnnsim.config import load_scenario
from gnnsim.pipeline import simulate
from gnnsim.validation.compare import validate_measured
from gnnsim.validation.measured_file import MeasuredFileError, load_measured, measured_from_dict

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples/validate-small.yaml")
SMALL = ["graph.num_nodes=3000", "simulation.iterations=2"]


def _run(forward=((0.004, 0.006), (0.005, 0.005)), times=((0.010, 0.011), (0.012, 0.009)), scenario=None) -> dict:
    """Two ranks x two iterations; the numbers are picked so the means are easy by hand."""
    ranks = [{"iterations": [{"iteration_time_s": t, "stages": {"forward": f, "backward": t - f}}
                             for f, t in zip(fw, tt)]} for fw, tt in zip(forward, times)]
    return {"ranks": ranks, "meta": {"host": "their-box", "backend": "gloo"}, **({"scenario": scenario} if scenario else {})}


@pytest.fixture
def no_launch(monkeypatch):
    import gnnsim.realrun.launch as launch

    def refuse(*a, **k):
        raise AssertionError("validate --measured launched a real run")
    monkeypatch.setattr(launch, "run_real", refuse)


def test_the_measured_means_by_hand():
    run = measured_from_dict(_run())
    # forward: mean of 4, 6, 5, 5 ms; iteration: slowest rank per iteration (12, 11 ms), then the mean
    assert run.breakdown()["forward"]["time_s"] == pytest.approx(0.005)
    assert run.iteration_time_s == pytest.approx(0.0115)


def test_validate_measured_compares_without_launching(tmp_path, no_launch):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_run()))
    scenario = load_scenario(SCENARIO, SMALL)
    report = validate_measured(scenario, str(path))
    sim = simulate(scenario)  # the same deterministic simulation, independently
    fwd = sim.analysis.breakdown["forward"]["time_s"]
    assert report.relative_error["forward"] == pytest.approx((fwd - 0.005) / 0.005)
    assert report.relative_error["iteration_time"] == pytest.approx((sim.analysis.iteration_time_s - 0.0115) / 0.0115)
    assert report.device.startswith("their-box") and "2 gloo ranks" in report.device
    assert report.notes == []


def test_the_cli_writes_the_comparison(tmp_path, capsys, no_launch):
    path, out = tmp_path / "run.json", tmp_path / "cmp.json"
    path.write_text(json.dumps(_run()))
    args = ["validate", SCENARIO, "--measured", str(path), "--json", str(out)]
    assert main(args + [x for kv in SMALL for x in ("--set", kv)]) == 0
    assert "forward" in capsys.readouterr().out
    assert json.loads(out.read_text())["measured"]["iteration_time_s"] == pytest.approx(0.0115)


def test_a_run_of_another_scenario_is_noted(tmp_path, no_launch):
    scenario = load_scenario(SCENARIO, SMALL)
    ran = scenario.to_dict()
    ran["training"]["batch_size"] = 256
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_run(scenario=ran)))
    notes = validate_measured(scenario, str(path)).notes
    assert notes == ["the measured run's scenario differs: training.batch_size: run 256, scenario 512"]


def test_a_realrun_file_round_trips(tmp_path):
    run = measured_from_dict(_run())
    path = tmp_path / "m.json"
    path.write_text(run.to_json())
    again = load_measured(path)
    assert again.iteration_time_s == pytest.approx(run.iteration_time_s)
    assert again.meta["backend"] == "gloo"


@pytest.mark.parametrize("data, message", [
    ({"ranks": []}, r"non-empty 'ranks'"),
    ({"ranks": [{"iterations": [{"stages": {}}]}]}, r"ranks\[0\]\.iterations\[0\]: expected iteration_time_s"),
    ({"ranks": [{"iterations": [{"iteration_time_s": 1, "stages": {"fwd": 1}}]}]}, r"unknown stage 'fwd'.*forward"),
    ({"ranks": [{"iterations": [{"iteration_time_s": 1, "stages": {"forward": -1}}]}]},
     r"ranks\[0\]\.iterations\[0\]\.stages\.forward: expected seconds"),
    ({"ranks": [{"iterations": [{"iteration_time_s": True, "stages": {}}]}]}, r"iteration_time_s: expected seconds"),
    ({"ranks": [{"iterations": [{"iteration_time_s": 1, "stages": {}}]},
                {"iterations": [{"iteration_time_s": 1, "stages": {}}] * 2}]}, r"different numbers of iterations"),
])
def test_bad_files_name_the_key(data, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MeasuredFileError, match=message):
        load_measured(path)


def test_cli_errors_exit_2_and_write_nothing(tmp_path, capsys, no_launch):
    out = tmp_path / "cmp.json"
    sets = [x for kv in SMALL for x in ("--set", kv)]
    assert main(["validate", SCENARIO, "--measured", str(tmp_path / "none.json"), "--json", str(out)] + sets) == 2
    assert "no such measured-run file" in capsys.readouterr().err
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"ranks": [_run()["ranks"][0]]}))
    assert main(["validate", SCENARIO, "--measured", str(one), "--json", str(out)] + sets) == 2
    assert "trainers_per_node=1" in capsys.readouterr().err
    text = tmp_path / "text.json"
    text.write_text("{oops")
    assert main(["validate", SCENARIO, "--measured", str(text)] + sets) == 2
    assert "not a JSON measured run" in capsys.readouterr().err
    assert not out.exists()
