"""From spans to answers: per-stage breakdown, iteration and epoch time, bottleneck.

Iteration ``i`` takes ``end_i - end_{i-1}``, where ``end_i`` is when the last trainer
finished iteration ``i``. A stage's time is the mean over trainers and iterations of the
time that trainer spent in that stage (waiting at a collective counts, as a real
``perf_counter`` sees it). When fewer iterations are simulated than an epoch has, the
epoch time is the mean iteration time times the epoch's iterations; the result says so
and gives the spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnsim.sim.engine import Timeline
from gnnsim.workload.builder import STAGES


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


def stage_times(timeline: Timeline, num_ranks: int, iterations: int) -> dict[str, float]:
    """Mean seconds per trainer per iteration for each stage that occurs."""
    totals: dict[str, float] = {}
    for span in timeline.spans:
        totals[span.stage] = totals.get(span.stage, 0.0) + span.duration_s
    denom = max(1, num_ranks * iterations)
    return {s: totals[s] / denom for s in STAGES if s in totals}


def analyze(timeline: Timeline, num_ranks: int, iterations_per_epoch: int) -> Analysis:
    ends = np.asarray(timeline.iteration_end_s)
    per_iter = np.diff(np.concatenate([[0.0], ends]))
    mean = float(per_iter.mean())
    times = stage_times(timeline, num_ranks, len(ends))
    total = sum(times.values()) or 1.0
    breakdown = {s: {"time_s": t, "share": t / total} for s, t in times.items()}
    stage = max(times, key=times.get)
    resource_time: dict[str, float] = {}
    for span in timeline.spans:
        if span.stage == stage:
            resource_time[span.resource] = resource_time.get(span.resource, 0.0) + span.duration_s
    resource = max(resource_time, key=resource_time.get)
    # Name the class of resource (one per trainer) rather than one trainer's instance of it.
    resource_class = resource.rstrip("0123456789").split("/", 1)[-1]
    return Analysis(
        iteration_time_s=mean,
        iteration_time_std_s=float(per_iter.std()),
        iteration_times_s=[float(x) for x in per_iter],
        epoch_time_s=mean * iterations_per_epoch,
        iterations_per_epoch=iterations_per_epoch,
        simulated_iterations=len(ends),
        extrapolated=len(ends) < iterations_per_epoch,
        breakdown=breakdown,
        bottleneck={"stage": stage, "resource": resource_class, "share": times[stage] / total},
    )
