"""``gnnsim validate``: run a scenario for real and simulated, and report the errors.

The simulation uses the scenario's cluster profile as it is (for a machine like this one,
``cluster.device_profile: calibrated/NAME`` from ``gnnsim calibrate``). Nothing from the
real run feeds the prediction: errors are reported as measured,
``(predicted - measured) / measured``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gnnsim.config import Scenario
from gnnsim.errors import ScenarioError
from gnnsim.measured import MeasuredRun
from gnnsim.pipeline import SimResult, cluster_for, simulate


@dataclass
class ValidationReport:
    scenario_name: str
    predicted: dict[str, Any]
    measured: dict[str, Any]
    relative_error: dict[str, float]
    device: str
    notes: list[str] = field(default_factory=list)  # --measured: where the file's run differs from the scenario

    def to_dict(self) -> dict[str, Any]:
        out = {"scenario": self.scenario_name, "device": self.device, "predicted": self.predicted,
               "measured": self.measured, "relative_error": self.relative_error}
        return out | ({"notes": self.notes} if self.notes else {})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def table(self) -> str:
        lines = [f"validation of {self.scenario_name} on {self.device}",
                 f"{'stage':<10} {'predicted':>12} {'measured':>12} {'error':>8}"]
        for stage, err in self.relative_error.items():
            if stage == "iteration_time":
                continue
            p = self.predicted["breakdown"].get(stage, {}).get("time_s", 0.0)
            m = self.measured["breakdown"].get(stage, {}).get("time_s", 0.0)
            lines.append(f"{stage:<10} {p * 1e3:9.3f} ms {m * 1e3:9.3f} ms {err:>+8.1%}")
        p, m = self.predicted["iteration_time_s"], self.measured["iteration_time_s"]
        lines.append(f"{'iteration':<10} {p * 1e3:9.3f} ms {m * 1e3:9.3f} ms {self.relative_error['iteration_time']:>+8.1%}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def relative_errors(predicted: dict[str, Any], measured: dict[str, Any]) -> dict[str, float]:
    """``(predicted - measured) / measured`` per measured stage and for the iteration
    (``iteration_time``), from two ``{"iteration_time_s", "breakdown"}`` mappings.

    >>> relative_errors({"iteration_time_s": 9.0, "breakdown": {"fetch": {"time_s": 3.0}}},
    ...                 {"iteration_time_s": 10.0, "breakdown": {"fetch": {"time_s": 4.0}, "halo": {"time_s": 0.0}}})
    {'fetch': -0.25, 'iteration_time': -0.1}
    """
    errors = {stage: (predicted["breakdown"].get(stage, {}).get("time_s", 0.0) - row["time_s"]) / row["time_s"]
              for stage, row in measured["breakdown"].items() if row["time_s"] > 0}
    errors["iteration_time"] = (predicted["iteration_time_s"] - measured["iteration_time_s"]) / measured["iteration_time_s"]
    return errors


def compare(sim: SimResult, measured: MeasuredRun) -> ValidationReport:
    pred_bd = {s: {"time_s": v["time_s"]} for s, v in sim.analysis.breakdown.items()}
    meas_bd = {s: {"time_s": v["time_s"]} for s, v in measured.breakdown().items()}
    predicted = {"iteration_time_s": sim.analysis.iteration_time_s, "breakdown": pred_bd}
    measured_times = {"iteration_time_s": measured.iteration_time_s, "breakdown": meas_bd}
    meta = measured.meta
    device = f"{meta.get('host')} ({meta.get('machine')}, torch {meta.get('torch')}, " \
             f"{len(measured.ranks)} {str(meta.get('backend') or 'gloo').split()[0]} ranks)"
    return ValidationReport(
        scenario_name=str(sim.scenario.name),
        predicted=predicted,
        measured=measured_times,
        relative_error=relative_errors(predicted, measured_times),
        device=device,
    )


def validate(scenario: Scenario, ranks: int = 2, timeout_s: float = 600.0, progress=print,
             trainer: str = "torch") -> ValidationReport:
    """Real run on ``ranks`` local processes, then the simulation of the same scenario."""
    from gnnsim.realrun.launch import run_real, scenario_for_ranks

    scenario = scenario_for_ranks(scenario, ranks)
    device = cluster_for(scenario).node.trainer_device
    if device.kind != "cpu":
        raise ScenarioError(
            f"cluster.profile '{scenario.cluster.profile}' has {device.kind.upper()} trainers ({device.name}), but the "
            "real run trains on this machine's CPUs with gloo, so the two would not describe the same job. "
            "Validate with a cluster of this machine, e.g. --set cluster.profile=localhost-cpu "
            "--set cluster.device_profile=calibrated/localhost (run `gnnsim calibrate --device cpu` first).")
    measured = run_real(scenario, ranks=ranks, timeout_s=timeout_s, progress=progress, trainer=trainer)
    progress("simulating the same scenario ...")
    return compare(simulate(scenario), measured)


def validate_measured(scenario: Scenario, path: str) -> ValidationReport:
    """The scenario simulated against a measured run read from ``path`` (``realrun``,
    ``import-trace`` or the user's own tooling, :mod:`gnnsim.validation.measured_file`);
    nothing is launched. The scenario must simulate as many trainers as the file has
    ranks; keys where the file's own scenario differs are listed in the report's notes."""
    from gnnsim.validation.measured_file import load_measured, scenario_differences

    measured = load_measured(path)
    trainers = cluster_for(scenario).num_trainers
    if trainers != len(measured.ranks):
        raise ScenarioError(
            f"{path} has {len(measured.ranks)} rank(s) but the scenario simulates {trainers} trainer(s) "
            f"(cluster {scenario.cluster.profile!r}); make them the same job, e.g. --set cluster.num_nodes=1 "
            f"--set cluster.trainers_per_node={len(measured.ranks)}")
    report = compare(simulate(scenario), measured)
    report.notes = [f"the measured run's scenario differs: {d}"
                    for d in scenario_differences(measured.scenario, scenario.to_dict())]
    return report
