"""Variants of a simulation: a grid of configurations, and the same batches on faster hardware.

- :func:`compare_grid` simulates every combination of some scenario fields (a grid,
  e.g. two partitioners x three cluster sizes) and returns the rows sorted by epoch
  time.
- :func:`whatif` re-simulates a finished result's workload — the same sampled
  batches — with some resources faster (:mod:`gnnsim.cost.scaling`), so the difference
  is the hardware's alone.

Both run whole simulations (:mod:`gnnsim.pipeline`); the ``--vary`` and ``--scale``
syntax they take is parsed by :mod:`gnnsim.analysis.whatif`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from gnnsim.analysis.breakdown import analyze
from gnnsim.analysis.whatif import parse_vary
from gnnsim.config import load_scenario
from gnnsim.errors import ScenarioError
from gnnsim.pipeline import SimResult, simulate
from gnnsim.sim.engine import simulate_workload


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
