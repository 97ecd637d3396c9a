"""One point of a search: the full simulator on a shared graph and partition, and its record.

:func:`predict` runs the same steps as :func:`gnnsim.pipeline.simulate` (workload from
real sampling, the cost model, the discrete-event simulation, the analysis) with the
graph and partition that the point shares with others, and returns a *record*: the few
numbers a search ranks and reports, as plain JSON data. A record is what a runner sends
back from a worker and what the results file holds, one per line.

A point that fails does not stop the search: :func:`run_point` turns its exception into
an error record that says what went wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.search.shared import SharedPartition


def error_text(exc: BaseException) -> str:
    """``Kind: first line of the message`` (an error record holds one line)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def summarize(result: Mapping[str, Any]) -> dict[str, Any]:
    """The record's numbers from a :meth:`SimResult.to_dict`."""
    memory = result.get("memory") or None
    host = result.get("host_memory") or None
    return {
        "epoch_time_s": result["epoch_time_s"],
        "iteration_time_s": result["iteration_time_s"],
        "iterations_per_epoch": result["iterations_per_epoch"],
        "extrapolated": result["extrapolated"],
        "epoch_time_ci95_s": result["epoch_time_ci95_s"],
        "cost_per_epoch_usd": result["cost_per_epoch_usd"],
        "price_per_hour": result["cluster"]["price_per_hour"],
        "trainers": result["cluster"]["trainers"],
        "device": result["cluster"]["device"],
        # a result without a memory estimate (no device capacity) is taken to fit
        "memory": None if memory is None else {"fits": memory["fits"], "peak_bytes": max(memory["peak_bytes"]),
                                               "capacity_bytes": memory["capacity_bytes"]},
        # each machine's RAM (fits is None where the node profile does not state it)
        "host_memory": None if host is None else {"fits": host["fits"], "peak_bytes": max(host["peak_bytes"]),
                                                  "capacity_bytes": host["capacity_bytes"]},
        "bottleneck": result["bottleneck"],
        "breakdown": {stage: row["time_s"] for stage, row in result["breakdown"].items()},
    }


def plain(data: Any) -> Any:
    """``data`` as JSON gives it back (numpy floats become floats), so a fresh record and
    one read from a results file compare equal."""
    return json.loads(json.dumps(data))


def predict(scenario: Scenario, graph: Graph, shared: SharedPartition) -> dict[str, Any]:
    """The full simulation of ``scenario`` on ``graph`` and ``shared``'s partition, as record numbers."""
    from gnnsim.analysis.breakdown import analyze
    from gnnsim.cost.model import CostModel
    from gnnsim.pipeline import SimResult, cluster_for, software_for
    from gnnsim.sim.engine import simulate_workload
    from gnnsim.workload.builder import build_workload
    from gnnsim.workload.loader import host_memory_for

    cluster = cluster_for(scenario)
    workload = build_workload(scenario, graph, shared.partition, cluster)
    workload.host_memory = host_memory_for(scenario, graph, shared.partition.assignment, cluster)
    software = software_for(scenario)
    cost = CostModel(cluster).with_software(software, len(scenario.training.fanouts))
    timeline = simulate_workload(workload, cost)
    analysis = analyze(timeline, workload.num_ranks, workload.iterations_per_epoch)
    result = SimResult(scenario, cluster, shared.metrics, workload, timeline, analysis, None, cost)
    return summarize(result.to_dict())


def ok_record(index: int, settings: Mapping[str, str], numbers: Mapping[str, Any]) -> dict[str, Any]:
    return plain({"index": index, "settings": dict(settings), "status": "ok", **numbers})


def error_record(index: int, settings: Mapping[str, str], error: str) -> dict[str, Any]:
    return plain({"index": index, "settings": dict(settings), "status": "error", "error": error})


def run_point(index: int, settings: Mapping[str, str], scenario: Scenario, graph: Graph,
              shared: SharedPartition) -> dict[str, Any]:
    """The record of one point; an exception becomes an error record."""
    try:
        return ok_record(index, settings, predict(scenario, graph, shared))
    except Exception as exc:  # noqa: BLE001 - one failing point must not stop a long search
        return error_record(index, settings, error_text(exc))
