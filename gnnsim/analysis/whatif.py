"""Compare configurations and ask what-if questions.

- :func:`compare_grid` simulates every combination of some scenario fields (a grid,
  e.g. two partitioners x three cluster sizes) and returns the rows sorted by epoch
  time.
- :func:`whatif` re-simulates a finished result's workload — the same sampled
  batches — with some resources faster (:mod:`gnnsim.cost.scaling`), so the difference
  is the hardware's alone.

>>> parse_vary("training.fanouts=[10,5],[15,10]")
('training.fanouts', ['[10,5]', '[15,10]'])
"""

from __future__ import annotations

import math

import itertools
from dataclasses import dataclass
from typing import Any

from gnnsim.analysis.breakdown import analyze
from gnnsim.config import load_scenario
from gnnsim.cost.scaling import canonical_knob
from gnnsim.errors import ScenarioError
from gnnsim.pipeline import SimResult, simulate
from gnnsim.sim.engine import simulate_workload


def split_values(text: str) -> list[str]:
    """Split ``a,b,[c,d]`` on the commas outside brackets and quotes."""
    out, depth, cur, quote = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return [v for v in out if v != ""]


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` -> (KEY, [V1, V2, ...])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ScenarioError(f"--vary {text!r}: expected KEY=V1,V2,... for example partition.method=random,metis")
    return key.strip(), split_values(values)


def parse_scale(text: str) -> tuple[str, float]:
    """``KNOB=FACTOR`` -> (canonical knob, factor)."""
    key, sep, value = text.partition("=")
    try:
        factor = float(value)
    except ValueError:
        factor = float("nan")
    if not sep or not factor > 0 or not math.isfinite(factor):
        raise ScenarioError(f"--scale {text!r}: expected KNOB=FACTOR with a finite factor > 0, for example "
                            "network.bw=2")
    return canonical_knob(key.strip()), factor


@dataclass
class GridRow:
    settings: dict[str, str]
    result: SimResult

    def to_dict(self) -> dict[str, Any]:
        a = self.result.analysis
        return {"settings": self.settings, "epoch_time_s": a.epoch_time_s, "iteration_time_s": a.iteration_time_s,
                "extrapolated": a.extrapolated, "epoch_time_ci95_s": list(a.epoch_time_ci95_s),
                "cost_per_epoch_usd": self.result.cluster.price_per_hour * a.epoch_time_s / 3600.0,
                "trainers": self.result.cluster.num_trainers, "bottleneck": a.bottleneck,
                "breakdown": a.breakdown}


def compare_grid(scenario_path: str, varies: list[str], overrides: list[str] | None = None) -> list[GridRow]:
    """Simulate every combination of the ``--vary`` values; rows sorted by epoch time."""
    axes = [parse_vary(v) for v in varies]
    if not axes:
        raise ScenarioError("compare: give at least one --vary KEY=V1,V2 (for example --vary partition.method=random,metis)")
    rows = []
    for combo in itertools.product(*[values for _, values in axes]):
        settings = {key: value for (key, _), value in zip(axes, combo)}
        sets = list(overrides or []) + [f"{k}={v}" for k, v in settings.items()]
        rows.append(GridRow(settings, simulate(load_scenario(scenario_path, sets), sensitivity=False)))
    rows.sort(key=lambda r: (r.result.analysis.epoch_time_s, list(r.settings.values())))
    return rows


def whatif(result: SimResult, factors: dict[str, float]) -> SimResult:
    """``result``'s workload re-simulated with the resources in ``factors`` faster."""
    if result.cost is None:
        raise ScenarioError("whatif needs a result from gnnsim.simulate (it carries its cost model)")
    cost = result.cost.scaled(factors)
    timeline = simulate_workload(result.workload, cost)
    analysis = analyze(timeline, result.workload.num_ranks, result.workload.iterations_per_epoch)
    return SimResult(result.scenario, cost.cluster, result.partition_metrics, result.workload, timeline, analysis,
                     None, cost)
