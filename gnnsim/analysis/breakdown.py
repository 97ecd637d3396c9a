"""From spans to answers: per-stage breakdown, iteration and epoch time, bottleneck.

Iteration ``i`` takes ``end_i - end_{i-1}``, where ``end_i`` is when the last trainer
finished iteration ``i``. A stage's time is the mean over trainers and iterations of the
time that trainer spent in that stage (waiting at a collective counts, as a real
``perf_counter`` sees it); its *exposed* time is the part not hidden under the
device's compute (:mod:`gnnsim.analysis.utilization`).

When every iteration of the epoch is simulated the epoch time is when the last one
ends. Otherwise it is extrapolated — and the result says so, with a 95% interval from
the spread of the simulated iterations: without prefetching, the mean iteration time
times the epoch's iterations; with prefetching, the first iteration (which fills the
pipeline, once per epoch) plus the steady-state mean of the others for the rest.

The bottleneck is the (stage, resource) with the largest share of the critical path
(:mod:`gnnsim.analysis.critical_path`).

A placed loader's per-epoch fixed costs (worker start-up, the first batch's latency:
:mod:`gnnsim.analysis.epoch_fixed`) are their own entry; the start-up is added to the
epoch, the first batch is already in its first iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gnnsim.analysis.critical_path import critical_path_summary
from gnnsim.analysis.epoch_fixed import epoch_fixed
from gnnsim.analysis.utilization import busy_and_exposed, utilization
from gnnsim.sim.engine import Timeline
from gnnsim.workload.builder import STAGES

Z95 = 1.96  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Analysis:
    iteration_time_s: float
    iteration_time_std_s: float
    iteration_times_s: list[float]
    epoch_time_s: float
    iterations_per_epoch: int
    simulated_iterations: int
    extrapolated: bool
    breakdown: dict[str, dict[str, float]]
    bottleneck: dict[str, object]
    epoch_time_ci95_s: tuple[float, float] = (0.0, 0.0)
    critical_path: dict[str, object] = field(default_factory=dict)
    utilization: dict[str, dict[str, object]] = field(default_factory=dict)
    makespan_s: float = 0.0
    # a placed loader's per-epoch fixed costs (gnnsim.analysis.epoch_fixed); {}: unplaced
    epoch_fixed: dict[str, float] = field(default_factory=dict)


def stage_times(timeline: Timeline, num_ranks: int, iterations: int) -> dict[str, float]:
    """Mean seconds per trainer per iteration for each stage that occurs."""
    totals: dict[str, float] = {}
    for span in timeline.spans:
        totals[span.stage] = totals.get(span.stage, 0.0) + span.duration_s
    denom = max(1, num_ranks * iterations)
    return {s: totals[s] / denom for s in STAGES if s in totals}


def epoch_estimate(ends: np.ndarray, iterations_per_epoch: int, pipelined: bool) -> tuple[float, float, float, bool]:
    """(epoch seconds, 95% low, 95% high, extrapolated) from the iteration end times."""
    k = ends.size
    per_iter = np.diff(np.concatenate([[0.0], ends]))
    if k >= iterations_per_epoch:
        return float(ends[-1]), float(ends[-1]), float(ends[-1]), False
    if pipelined and k >= 2:
        steady = per_iter[1:]
        head, rest = float(per_iter[0]), iterations_per_epoch - 1
    else:
        steady, head, rest = per_iter, 0.0, iterations_per_epoch
    mean = float(steady.mean())
    half = Z95 * float(steady.std(ddof=1)) / np.sqrt(steady.size) if steady.size > 1 else 0.0
    est = head + rest * mean
    return est, est - rest * half, est + rest * half, True


def analyze(timeline: Timeline, num_ranks: int, iterations_per_epoch: int) -> Analysis:
    ends = np.asarray(timeline.iteration_end_s)
    per_iter = np.diff(np.concatenate([[0.0], ends]))
    mean = float(per_iter.mean())
    times = stage_times(timeline, num_ranks, len(ends))
    total = sum(times.values()) or 1.0
    exposure = busy_and_exposed(timeline, num_ranks, len(ends))
    breakdown = {s: {"time_s": t, "share": t / total, "busy_s": t,
                     "exposed_s": exposure.get(s, {}).get("exposed_s", t)} for s, t in times.items()}
    epoch, lo, hi, extrapolated = epoch_estimate(ends, iterations_per_epoch, getattr(timeline, "prefetch_depth", 0) > 0)
    fixed = epoch_fixed(timeline)
    startup = fixed.get("loader_startup_s", 0.0)  # (the first batch is inside the simulated iterations already)
    epoch, lo, hi = epoch + startup, lo + startup, hi + startup
    cp = critical_path_summary(timeline)
    rows = cp["by_stage_resource"]
    if rows:
        top = rows[0]
        bottleneck: dict[str, object] = {"stage": top["stage"], "resource": top["resource"], "share": top["share"],
                                         "instance": top["instance"], "basis": "critical path"}
    else:
        bottleneck = {"stage": "", "resource": "", "share": 0.0, "instance": "", "basis": "critical path"}
    return Analysis(
        iteration_time_s=mean,
        iteration_time_std_s=float(per_iter.std()),
        iteration_times_s=[float(x) for x in per_iter],
        epoch_time_s=epoch,
        iterations_per_epoch=iterations_per_epoch,
        simulated_iterations=len(ends),
        extrapolated=extrapolated,
        breakdown=breakdown,
        bottleneck=bottleneck,
        epoch_time_ci95_s=(lo, hi),
        critical_path=cp,
        utilization=utilization(timeline),
        makespan_s=float(ends[-1]) if ends.size else 0.0,
        epoch_fixed=fixed,
    )
