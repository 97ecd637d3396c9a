"""RESULTS.md's *Measured twice* section: each job measured in a second pass, later in
the run, against the one prediction.

The two passes' difference is the host's own run-to-run noise, the floor below which a
model error cannot be told apart. :func:`repeat_summary` gives the rows it adds to the
summary table (the passes against each other, the model against the second pass and
against their mean), :func:`repeat_section` the section itself. Results measured once
get neither.
"""

from __future__ import annotations

from typing import Any

from gnnsim.validation.figures import between_passes_rows
from gnnsim.validation.formatting import ms as _ms
from gnnsim.validation.formatting import pct as _pct
from gnnsim.validation.formatting import stage_mapes as _stage_mapes
from gnnsim.validation.formatting import verdict as _verdict


def repeat_summary(results: dict[str, Any]) -> list[str]:
    """Summary-table rows of the second pass (none where the jobs were measured once)."""
    rep = results.get("repeat")
    if not rep:
        return []
    floor, second, target = rep["between_passes"], rep["accuracy"], results["targets"]
    stable = [g for g in rep["rankings_between_passes"] if g.get("compared")]
    kept = [g for g in rep["rankings"] if g.get("compared")]
    return [f"| the same jobs measured again later in the run (see *Measured twice*): iteration time, first "
            f"pass against the second (MAPE) | {floor['iteration_mape']:.1%} | | the host's own noise floor: "
            f"model errors below it cannot be told apart |",
            f"| stages within {target['stage_error']:.0%} between the two passes | {floor['stage_errors_within_target']} "
            f"of {floor['stage_errors_total']} | | |",
            f"| ranking groups in the same measured order in both passes | {sum(g['order_kept'] for g in stable)} of "
            f"{len(stable)} | | |",
            f"| iteration time MAPE against the second pass | {second['iteration_mape']:.1%} | "
            f"<= {target['iteration_mape']:.0%} | {_verdict(second['iteration_mape'] <= target['iteration_mape'])} |",
            f"| ranking groups in the second pass's measured order | {sum(g['order_kept'] for g in kept)} of "
            f"{len(kept)} | all | {_verdict(all(g['order_kept'] for g in kept))} |",
            *_mean_summary(rep, target)]


def _mean_summary(rep: dict[str, Any], target: dict[str, float]) -> list[str]:
    """Summary-table rows of the model against the mean of both passes."""
    acc, kept = rep["accuracy_mean"], [g for g in rep["rankings_mean"] if g.get("compared")]
    return [f"| iteration time MAPE against the mean of both passes | {acc['iteration_mape']:.1%} "
            f"({_pct(acc['iteration_mean_signed_error'])} signed) | <= {target['iteration_mape']:.0%} | "
            f"{_verdict(acc['iteration_mape'] <= target['iteration_mape'])} |",
            f"| stage errors within {target['stage_error']:.0%} against the mean of both passes | "
            f"{acc['stage_errors_within_target']} of {acc['stage_errors_total']} | all | "
            f"{_verdict(acc['stage_errors_within_target'] == acc['stage_errors_total'])} |",
            f"| ranking groups in the order of the mean of both passes | {sum(g['order_kept'] for g in kept)} of "
            f"{len(kept)} | all | {_verdict(all(g['order_kept'] for g in kept))} |"]


def repeat_section(results: dict[str, Any]) -> list[str]:
    """The *Measured twice* section: each job's two measurements against the one prediction."""
    rep = results.get("repeat")
    if not rep:
        return []
    lines = ["", "## Measured twice", "",
             "After the first pass every job that ran was run real once more, in reverse order (a job's two runs "
             "sit minutes apart). The prediction is the same for both; how far apart the two measurements are is "
             "the host's run-to-run noise. *Stage furthest apart*: the stage whose two measurements differ most "
             "(first against second).", "",
             "| scenario | first ms | second ms | first vs second | predicted ms | error vs first | error vs second | "
             "stage furthest apart |",
             "|---|---|---|---|---|---|---|---|"]
    between = {r["name"]: r["report"]["relative_error"] for r in between_passes_rows(results["scenarios"])}
    for r in results["scenarios"]:
        again = r.get("repeat")
        if r["status"] != "ok" or not again:
            continue
        if "report" not in again:
            lines.append(f"| {r['name']} | {_ms(r['report']['measured']['iteration_time_s'])} | failed: "
                         f"`{again['error'].splitlines()[0][:120]}` | | | | | |")
            continue
        first, second = r["report"], again["report"]
        apart = {s: e for s, e in between[r["name"]].items() if s != "iteration_time"}
        far = max(apart, key=lambda s: abs(apart[s])) if apart else ""
        lines.append(f"| {r['name']} | {_ms(first['measured']['iteration_time_s'])} | "
                     f"{_ms(second['measured']['iteration_time_s'])} | {_pct(between[r['name']]['iteration_time'])} | "
                     f"{_ms(first['predicted']['iteration_time_s'])} | {_pct(first['relative_error']['iteration_time'])} | "
                     f"{_pct(second['relative_error']['iteration_time'])} | {far} {_pct(apart.get(far))} |")
    lines += ["", "Per-stage, first pass against the second (MAPE, signed in brackets): "
              + _stage_mapes(rep["between_passes"]) + ". The model against the second pass: "
              + _stage_mapes(rep["accuracy"]) + ". Against the mean of both: "
              + _stage_mapes(rep["accuracy_mean"]) + ".", "",
              "| group | first pass order | second pass order | same order | predicted order |",
              "|---|---|---|---|---|"]
    for g in rep["rankings_between_passes"]:
        if g.get("compared"):
            predicted = next((x for x in results["rankings"] if x["group"] == g["group"]), {}).get("predicted_order", [])
            lines.append(f"| {g['group']} | {' < '.join(g['predicted_order'])} | {' < '.join(g['measured_order'])} | "
                         f"{'yes' if g['order_kept'] else '**no**'} | {' < '.join(predicted)} |")
    return lines
