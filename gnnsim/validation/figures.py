"""The suite's figures: errors against the targets, ranking groups, and runs measured twice.

Each row is one scenario's result (:func:`gnnsim.validation.harness.run_scenario`); its
``report`` compares a prediction with a measurement (:mod:`gnnsim.validation.compare`).
The figures are derived from the rows alone, so ``validation/run.py --render`` can
compute them again from ``results.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Acceptance targets of the suite
TARGET_ITERATION_MAPE = 0.10
TARGET_STAGE_ERROR = 0.20


def accuracy(rows: list[dict[str, Any]], report: str = "report",
             stage_target: float = TARGET_STAGE_ERROR) -> dict[str, Any]:
    """Iteration-time MAPE, per-stage errors and their counts (within ``stage_target``)
    over the successful runs (their ``report``, or another comparison of the rows such as
    ``report_drift_corrected``)."""
    ok = [r for r in rows if r["status"] == "ok" and r["expect"] == "success" and report in r]
    it_err = [r[report]["relative_error"]["iteration_time"] for r in ok]
    stage_err = [(r["name"], s, e) for r in ok for s, e in r[report]["relative_error"].items() if s != "iteration_time"]
    by_stage: dict[str, list[float]] = {}
    for _, s, e in stage_err:
        by_stage.setdefault(s, []).append(e)
    within = sum(abs(e) <= stage_target for _, _, e in stage_err)
    return {
        "scenarios_ok": len(ok),
        "iteration_mape": float(np.mean(np.abs(it_err))) if it_err else None,
        "iteration_mean_signed_error": float(np.mean(it_err)) if it_err else None,
        "iteration_max_abs_error": float(np.max(np.abs(it_err))) if it_err else None,
        "stage_mape": {s: float(np.mean(np.abs(v))) for s, v in by_stage.items()},
        "stage_mean_signed_error": {s: float(np.mean(v)) for s, v in by_stage.items()},
        "stage_errors_within_target": within,
        "stage_errors_total": len(stage_err),
        "worst_stage_errors": [{"scenario": n, "stage": s, "error": float(e)}
                               for n, s, e in sorted(stage_err, key=lambda t: -abs(t[2]))[:5]],
    }


# Acceptance targets of the scenarios run by another framework's trainer (issue 22)
TRAINER_TARGETS = {"pyg": {"iteration_mape": 0.15, "stage_error": 0.25, "ratio_error": 0.15}}


def own_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows run by gnnsim's own trainer (rows written before ``trainer`` existed are)."""
    return [r for r in rows if r.get("trainer", "torch") == "torch"]


def trainer_blocks(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per other trainer (``validation.trainer``): its rows' figures apart from the
    headline ones, against that trainer's targets (:data:`TRAINER_TARGETS`)."""
    out = {}
    for trainer in sorted({r.get("trainer", "torch") for r in rows} - {"torch"}):
        mine = [r for r in rows if r.get("trainer") == trainer]
        target = TRAINER_TARGETS.get(trainer, {"iteration_mape": TARGET_ITERATION_MAPE,
                                               "stage_error": TARGET_STAGE_ERROR, "ratio_error": 0.15})
        out[trainer] = {"targets": target, "scenarios": [r["name"] for r in mine],
                        "accuracy": accuracy(mine, stage_target=target["stage_error"]),
                        "accuracy_drift_corrected": accuracy(mine, "report_drift_corrected", target["stage_error"]),
                        "rankings": rankings(mine), "ratios": ratios(mine, target["ratio_error"]),
                        **({"repeat": repeat_figures(mine, target["stage_error"])} if measured_twice(mine) else {})}
    return out


def ratios(rows: list[dict[str, Any]], target: float = 0.15) -> list[dict[str, Any]]:
    """For each ranking group, each member's iteration time over the group's measured
    fastest, measured and predicted, and the predicted ratio's relative error.

    >>> rows = [{"name": n, "status": "ok", "groups": ["g"], "report": {"measured": {"iteration_time_s": m},
    ...          "predicted": {"iteration_time_s": p}}} for n, m, p in (("a", 1.0, 1.0), ("b", 3.2, 2.0))]
    >>> ratios(rows)[0]["ratios"][0]["error"]
    -0.375
    """
    out = []
    for g in rankings(rows):
        if not g.get("compared"):
            continue
        base = g["measured_order"][0]
        entries = []
        for name in g["measured_order"][1:]:
            meas = g["measured_s"][name] / g["measured_s"][base]
            pred = g["predicted_s"][name] / g["predicted_s"][base]
            entries.append({"member": name, "measured": meas, "predicted": pred, "error": pred / meas - 1.0})
        out.append({"group": g["group"], "base": base, "ratios": entries,
                    "within_target": all(abs(e["error"]) <= target for e in entries)})
    return out


def rankings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each ranking group: measured vs predicted order of iteration time, Spearman's rho."""
    from scipy.stats import spearmanr

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for g in r["groups"]:
            groups.setdefault(g, []).append(r)
    out = []
    for g, members in sorted(groups.items()):
        ok = [m for m in members if m["status"] == "ok"]
        missing = [m["name"] for m in members if m["status"] != "ok"]
        entry: dict[str, Any] = {"group": g, "members": [m["name"] for m in members], "missing": missing}
        if len(ok) < 2:
            why = f"only {len(ok)} member(s) ran" + (f"; not run: {', '.join(missing)}" if missing else
                                                      " (the others are not in this subset)")
            entry.update(compared=False, reason=why)
            out.append(entry)
            continue
        meas = np.array([m["report"]["measured"]["iteration_time_s"] for m in ok])
        pred = np.array([m["report"]["predicted"]["iteration_time_s"] for m in ok])
        names = [m["name"] for m in ok]
        meas_order = [names[i] for i in np.argsort(meas, kind="stable")]
        pred_order = [names[i] for i in np.argsort(pred, kind="stable")]
        rho = float(spearmanr(meas, pred).statistic) if len(ok) > 1 else float("nan")
        entry.update(compared=True, measured_order=meas_order, predicted_order=pred_order,
                     measured_s=dict(zip(names, meas.tolist())), predicted_s=dict(zip(names, pred.tolist())),
                     spearman_rho=None if np.isnan(rho) else rho, order_kept=meas_order == pred_order,
                     gaps_resolved=_gaps_resolved([ok[i] for i in np.argsort(meas, kind="stable")]))
        out.append(entry)
    return out


def repeat_figures(rows: list[dict[str, Any]], stage_target: float = TARGET_STAGE_ERROR) -> dict[str, Any]:
    """The figures of a suite whose jobs were measured twice (``results["repeat"]``): the
    model against the second pass and against the mean of both, and the passes against
    each other; all derived from the rows, so ``--render`` can compute them again."""
    second, between, mean = second_pass_rows(rows), between_passes_rows(rows), mean_of_passes_rows(rows)
    return {"accuracy": accuracy(second, stage_target=stage_target), "rankings": rankings(second),
            "between_passes": accuracy(between, stage_target=stage_target),
            "rankings_between_passes": rankings(between),
            "accuracy_mean": accuracy(mean, stage_target=stage_target), "rankings_mean": rankings(mean)}


def measured_twice(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(r, r["repeat"]) for r in rows if r["status"] == "ok" and "report" in (r.get("repeat") or {})]


def second_pass_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the prediction against the second run."""
    return [{**r, "report": again["report"], "measured_iteration_times_s": again.get("measured_iteration_times_s")}
            for r, again in measured_twice(rows)]


def between_passes_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the first measurement in the place of a
    prediction of the second: :func:`accuracy` and :func:`rankings` of these say how far
    apart the host measured the same jobs (the noise floor of the model's figures).

    >>> row = {"name": "a", "status": "ok", "expect": "success", "groups": [],
    ...        "report": {"measured": {"iteration_time_s": 10.0, "breakdown": {"fetch": {"time_s": 4.0}}}},
    ...        "repeat": {"report": {"measured": {"iteration_time_s": 12.5, "breakdown": {"fetch": {"time_s": 5.0}}}}}}
    >>> between_passes_rows([row])[0]["report"]["relative_error"]
    {'fetch': -0.2, 'iteration_time': -0.2}
    """
    from gnnsim.validation.compare import relative_errors

    out = []
    for r, again in measured_twice(rows):
        first, second = r["report"]["measured"], again["report"]["measured"]
        out.append({**r, "report": {"measured": second, "predicted": first,
                                    "relative_error": relative_errors(first, second)},
                    "measured_iteration_times_s": again.get("measured_iteration_times_s")})
    return out


def mean_of_passes_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows measured twice, their ``report`` the prediction against the mean of the two
    measurements (per stage and per iteration): the model's error with half the variance
    of the host's run-to-run noise in the reference.

    >>> row = {"name": "a", "status": "ok", "expect": "success", "groups": [],
    ...        "report": {"predicted": {"iteration_time_s": 11.0, "breakdown": {"fetch": {"time_s": 4.4}}},
    ...                   "measured": {"iteration_time_s": 10.0, "breakdown": {"fetch": {"time_s": 4.0}}}},
    ...        "repeat": {"report": {"measured": {"iteration_time_s": 12.0, "breakdown": {"fetch": {"time_s": 4.8}}}}}}
    >>> {k: round(v, 3) for k, v in mean_of_passes_rows([row])[0]["report"]["relative_error"].items()}
    {'fetch': 0.0, 'iteration_time': 0.0}
    """
    from gnnsim.validation.compare import relative_errors

    out = []
    for r, again in measured_twice(rows):
        first, second, predicted = r["report"]["measured"], again["report"]["measured"], r["report"]["predicted"]
        stages = set(first["breakdown"]) | set(second["breakdown"])
        mean = {"iteration_time_s": (first["iteration_time_s"] + second["iteration_time_s"]) / 2,
                "breakdown": {st: {"time_s": (first["breakdown"].get(st, {}).get("time_s", 0.0)
                                              + second["breakdown"].get(st, {}).get("time_s", 0.0)) / 2}
                              for st in sorted(stages)}}
        out.append({**r, "report": {"measured": mean, "predicted": predicted,
                                    "relative_error": relative_errors(predicted, mean)},
                    "measured_iteration_times_s": None})
    return out


def _stderr_s(row: dict[str, Any]) -> float | None:
    """Standard error of a run's mean iteration time (from its per-iteration times)."""
    times = row.get("measured_iteration_times_s")
    if not times or len(times) < 2:
        return None
    return float(np.std(times, ddof=1) / np.sqrt(len(times)))


def _gaps_resolved(ordered: list[dict[str, Any]]) -> list[bool] | None:
    """For each neighbouring pair in measured order: is the gap more than twice its standard error?

    A pair whose measured times differ by less than that is within run-to-run noise, so
    a swapped prediction there says little about the model.
    """
    out = []
    for a, b in zip(ordered, ordered[1:]):
        ea, eb = _stderr_s(a), _stderr_s(b)
        if ea is None or eb is None:
            return None
        gap = b["report"]["measured"]["iteration_time_s"] - a["report"]["measured"]["iteration_time_s"]
        out.append(bool(gap > 2.0 * np.hypot(ea, eb)))
    return out


def host_stability(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """How steady the host ran over a suite: the reference load's probes, taken before
    and after every real run (``speed.probes_ms``), as their slowest over their fastest
    and their coefficient of variation; None where no run was probed.

    The model cannot be judged more finely than the host holds still.

    >>> host_stability([{"speed": {"probes_ms": [4.0, 6.0]}}, {"speed": {"probes_ms": [5.0]}}, {}])
    {'fastest_ms': 4.0, 'slowest_ms': 6.0, 'spread': 1.5, 'cv': 0.1633, 'probes': 3}
    """
    probes = np.array([p for r in rows for p in (r.get("speed") or {}).get("probes_ms", [])], dtype=float)
    if probes.size == 0:
        return None
    return {"fastest_ms": float(probes.min()), "slowest_ms": float(probes.max()),
            "spread": round(float(probes.max() / probes.min()), 4), "cv": round(float(probes.std() / probes.mean()), 4),
            "probes": int(probes.size)}
