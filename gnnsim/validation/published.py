"""Published (or the user's own) measured runs, predicted from the catalog and scored.

:func:`predict_records` turns every record it can into a scenario
(:mod:`gnnsim.validation.record_scenario`), simulates it with datasheet profiles only,
and returns one :class:`Row` per record; :func:`summarize` scores the rows: coverage by
reason, the error over records with named hardware, and per ratio group the order
(Spearman's rho) and the error of each ratio to the group's first predicted record.
Records without named hardware run on a stand-in and count only through their ratios.

Every measured figure is compared as a time: an epoch in seconds, a batch's sampling
time, or the time per sample of a throughput; ``error = predicted / measured - 1``.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gnnsim.validation.record_scenario import Mapping, record_scenario
from gnnsim.validation.records import RunRecord


@dataclass
class Row:
    """One record's outcome: its prediction, or why there is none."""

    id: str
    group: str | None
    status: str  # expressible | partial | not expressible | failed
    metric: str = ""
    measured: float | None = None  # in the record's unit (s, ms per batch, samples/s)
    predicted: float | None = None
    error: float | None = None  # predicted time / measured time - 1
    bottleneck: str = ""
    named_hardware: bool = True
    approximations: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    scenario: dict[str, Any] | None = None
    predict_s: float | None = None  # wall time of the prediction (graph build included when not shared)
    graph_scale: float = 1.0
    iteration_s: float | None = None  # the simulated iteration time
    skipped: bool = False  # expressible but left out of this run (--quick, --only)
    breakdown_ms: dict[str, float] = field(default_factory=dict)


def _as_time(metric: str, value: float) -> float:
    """A measured or predicted figure as a time (throughputs inverted)."""
    return 1.0 / value if metric == "throughput_samples_per_s" else value


def _predicted_value(m: Mapping, result) -> float:
    a = result.analysis
    sc = result.scenario
    if m.metric == "sampling_time_ms_per_batch":
        return 1e3 * a.breakdown.get("sample", {}).get("time_s", 0.0)
    if m.metric == "throughput_samples_per_s":
        return sc.training.batch_size * result.cluster.num_trainers / a.iteration_time_s
    if m.graph_scale < 1.0:  # the real graph's iteration count, from the preset's train nodes
        from gnnsim.graph.presets import get_preset

        train = get_preset(sc.graph.source.split(":", 1)[1]).train_nodes
        per_trainer = math.ceil(train / result.cluster.num_trainers)
        return a.iteration_time_s * math.ceil(per_trainer / sc.training.batch_size)
    return a.epoch_time_s


def predict_one(m: Mapping, graphs: dict[tuple, Any], source: str, skip: bool = False) -> Row:
    """Simulate one mapped record (the graph shared through ``graphs`` by source and scale);
    ``skip`` classifies it without simulating."""
    from gnnsim.config import scenario_from_dict
    from gnnsim.graph.build import build_graph
    from gnnsim.pipeline import simulate

    rec = m.record
    row = Row(rec.id, rec.group, m.status, m.metric, getattr(rec.result, m.metric, None) if m.metric else None,
              named_hardware=not m.stand_in_hardware, approximations=list(m.approximations),
              missing=list(m.missing), scenario=m.scenario, graph_scale=m.graph_scale)
    if m.scenario is None or skip:
        row.skipped = m.scenario is not None
        return row
    start = time.perf_counter()
    scenario = scenario_from_dict(m.scenario, f"{source} record {rec.id}")
    key = (scenario.graph.source, scenario.graph.scale, scenario.simulation.seed)
    if key not in graphs:
        graphs[key] = build_graph(scenario)
    result = simulate(scenario, sensitivity=False, graph=graphs[key])
    row.predict_s = time.perf_counter() - start
    row.predicted = _predicted_value(m, result)
    row.iteration_s = result.analysis.iteration_time_s
    row.error = _as_time(m.metric, row.predicted) / _as_time(m.metric, row.measured) - 1.0
    b = result.analysis.bottleneck
    row.bottleneck = f"{b['stage']} on {b['resource']} ({100 * float(b['share']):.0f}%)" if b.get("stage") else ""
    row.breakdown_ms = {k: 1e3 * v["time_s"] for k, v in result.analysis.breakdown.items()}
    return row


def predict_records(records: list[RunRecord], *, source: str = "<records>", quick: bool = False,
                    only: set[str] | None = None) -> list[Row]:
    """One :class:`Row` per record, predicting every expressible one (``only``: these ids).
    Progress goes to stderr through :mod:`gnnsim.progress` (quiet off a terminal)."""
    from gnnsim.progress import progress

    graphs: dict[tuple, Any] = {}
    rows = []
    mappings = [record_scenario(rec, quick=quick) for rec in records]  # every record checked before any runs
    runs = sum(m.scenario is not None and (only is None or m.record.id in only) for m in mappings)
    with progress("published runs", total=runs, unit="records") as bar:
        for rec, m in zip(records, mappings):
            skip = only is not None and rec.id not in only
            rows.append(predict_one(m, graphs, source, skip))
            if m.scenario is not None and not skip:
                bar.update(1)
    return rows


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) == 2:  # two points: the same order or the reverse
        return 1.0 if (a[1] - a[0]) * (b[1] - b[0]) > 0 else (-1.0 if (a[1] - a[0]) * (b[1] - b[0]) < 0 else 0.0)
    if len(set(a)) == 1 or len(set(b)) == 1:  # a constant side has no order to compare
        return 0.0
    rho = spearmanr(a, b).statistic
    return 0.0 if rho is None or math.isnan(rho) else float(rho)


def group_scores(rows: list[Row]) -> list[dict[str, Any]]:
    """Per ratio group with two or more predictions: order kept and each ratio's error."""
    by_group: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.group:
            by_group[r.group].append(r)
    out = []
    for group, members in by_group.items():
        done = [r for r in members if r.predicted is not None]
        entry: dict[str, Any] = {"group": group, "records": len(members), "predicted": len(done),
                                 "named_hardware": all(r.named_hardware for r in done) if done else None}
        if len(done) >= 2 and len({r.metric for r in done}) == 1:
            meas = [_as_time(r.metric, r.measured) for r in done]
            pred = [_as_time(r.metric, r.predicted) for r in done]
            entry["spearman_rho"] = _spearman(pred, meas)
            entry["ratios"] = [{"id": r.id, "measured": meas[i] / meas[0], "predicted": pred[i] / pred[0],
                                "error": (pred[i] / pred[0]) / (meas[i] / meas[0]) - 1.0}
                               for i, r in enumerate(done) if i > 0]
            entry["reference"] = done[0].id
        out.append(entry)
    return out


def summarize(rows: list[Row]) -> dict[str, Any]:
    """Coverage, the error over named hardware, and the ratio groups' scores."""
    status = Counter(r.status for r in rows)
    missing = Counter(x for r in rows for x in r.missing)
    approx = Counter(x.split(":")[0] for r in rows if r.scenario is not None for x in r.approximations)
    named = [r.error for r in rows if r.error is not None and r.named_hardware]
    groups = group_scores(rows)
    scored = [g for g in groups if "spearman_rho" in g]
    ratio_errors = [abs(x["error"]) for g in scored for x in g["ratios"]]
    return {
        "records": len(rows),
        "coverage": {k: status.get(k, 0) for k in ("expressible", "partial", "not expressible", "failed")},
        "missing_capabilities": dict(missing.most_common()),
        "approximations": dict(approx.most_common()),
        "predicted": sum(r.predicted is not None for r in rows),
        "skipped": sum(r.skipped for r in rows),
        "named_hardware_predicted": len(named),
        "median_abs_error": _median([abs(e) for e in named]),
        "median_signed_error": _median(named),
        "within_20": (sum(abs(e) <= 0.2 for e in named) / len(named)) if named else None,
        "within_50": (sum(abs(e) <= 0.5 for e in named) / len(named)) if named else None,
        "groups_scored": len(scored),
        "groups_in_order": sum(g["spearman_rho"] >= 1.0 - 1e-9 for g in scored),
        "ratio_median_abs_error": _median(ratio_errors),
        "ratios_within_25": (sum(e <= 0.25 for e in ratio_errors) / len(ratio_errors)) if ratio_errors else None,
        "groups": groups,
    }


def rows_json(rows: list[Row], summary: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta, "summary": summary, "records": [asdict(r) for r in rows]}
