"""Sensitivity: how much faster would the epoch be if one resource class were faster?

For each resource class (device compute, PCIe, NVLink or the intra-node link, the
network, CPU sampling) the same workload — the same sampled batches — is simulated
again with a cost model where only that class is ``factor`` times faster
(:mod:`gnnsim.cost.scaling`). The change in epoch time says where money or tuning
pays: a class whose 2x speed-up changes nothing is not on the critical path. A class
the cluster does not have (PCIe on CPU trainers, the network on one node) is skipped.
"""

from __future__ import annotations

from typing import Any

from gnnsim.analysis.breakdown import analyze
from gnnsim.cost.model import CostModel
from gnnsim.cost.scaling import SENSITIVITY_CLASSES
from gnnsim.sim.engine import simulate_workload
from gnnsim.workload.builder import Workload


def applicable_classes(cost: CostModel) -> dict[str, str]:
    """Resource class -> knob for the classes this cluster has."""
    cluster = cost.cluster
    out = {}
    for cls, knob in SENSITIVITY_CLASSES.items():
        if cls == "pcie" and cluster.node.h2d_link is None:
            continue
        if cls == "network" and cluster.num_nodes == 1:
            continue
        if cls == "nvlink" and cluster.node.trainers == 1:
            continue
        out["cpu compute" if cls == "gpu compute" and cluster.node.trainer_device.kind == "cpu" else cls] = knob
    return out


def epoch_time(workload: Workload, cost: CostModel, **sim_options: Any) -> float:
    tl = simulate_workload(workload, cost, **sim_options)
    return analyze(tl, workload.num_ranks, workload.iterations_per_epoch).epoch_time_s


def sensitivity(workload: Workload, cost: CostModel, baseline_epoch_s: float | None = None, factor: float = 2.0,
                **sim_options: Any) -> dict[str, dict[str, float | str]]:
    """Per resource class: the epoch time with that class ``factor`` x faster, and the change.

    Returns ``{class: {"knob", "factor", "epoch_time_s", "change"}}`` where ``change`` is
    the relative change of the epoch time (``-0.25`` = 25% shorter).
    """
    base = baseline_epoch_s if baseline_epoch_s is not None else epoch_time(workload, cost, **sim_options)
    out: dict[str, dict[str, float | str]] = {}
    for cls, knob in applicable_classes(cost).items():
        t = epoch_time(workload, cost.scaled({knob: factor}), **sim_options)
        out[cls] = {"knob": knob, "factor": factor, "epoch_time_s": t, "change": (t - base) / base if base > 0 else 0.0}
    return out
