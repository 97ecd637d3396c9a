"""RESULTS.md's section for each other real trainer (``validation.trainer``, e.g. PyG).

Its scenarios are kept out of the headline figures (gnnsim's own trainer's) and
summarised here against their own targets (:data:`gnnsim.validation.figures.TRAINER_TARGETS`):
iteration MAPE, stage errors, groups in measured order and the ratios between
configurations (:func:`gnnsim.validation.figures.ratios`).
"""

from __future__ import annotations

from typing import Any

from gnnsim.validation.formatting import TRAINER_NAMES
from gnnsim.validation.formatting import pct as _pct
from gnnsim.validation.formatting import stage_mapes as _stage_mapes
from gnnsim.validation.formatting import verdict as _verdict


def trainer_sections(results: dict[str, Any]) -> list[str]:
    """A section per other real trainer (``results["trainers"]``): its scenarios' own
    summary against its targets, its groups in order and the ratios between configurations."""
    lines = []
    for trainer, block in (results.get("trainers") or {}).items():
        name, acc, target = TRAINER_NAMES.get(trainer, trainer), block["accuracy"], block["targets"]
        compared = [g for g in block["rankings"] if g.get("compared")]
        kept = sum(g["order_kept"] for g in compared)
        entries = [e for r in block["ratios"] for e in r["ratios"]]
        within = sum(abs(e["error"]) <= target["ratio_error"] for e in entries)
        mape = acc["iteration_mape"]
        lines += ["", f"## {name} trainer", "",
                  f"{len(block['scenarios'])} scenarios run by a standard {name} data-parallel trainer "
                  f"(`gnnsim realrun --trainer {trainer}`: {name}'s own layers and loader, DDP over gloo, no barrier "
                  f"between iterations) and simulated with `training.framework: {trainer}` and the calibration's "
                  f"`frameworks: {trainer}:` block (measured against the real {name} by micro-benchmarks, "
                  "`gnnsim.calibrate.pyg`). They are kept out of the figures above, which stay gnnsim's own trainer's.",
                  "", "| figure | value | target | |", "|---|---|---|---|",
                  f"| iteration time MAPE | {'n/a' if mape is None else f'{mape:.1%}'} "
                  f"({_pct(acc['iteration_mean_signed_error'])} signed) | <= {target['iteration_mape']:.0%} | "
                  f"{'' if mape is None else _verdict(mape <= target['iteration_mape'])} |",
                  f"| stage errors within {target['stage_error']:.0%} | {acc['stage_errors_within_target']} of "
                  f"{acc['stage_errors_total']} | all | "
                  f"{_verdict(acc['stage_errors_within_target'] == acc['stage_errors_total'])} |",
                  f"| ranking groups in measured order | {kept} of {len(compared)} | all | {_verdict(kept == len(compared))} |",
                  f"| ratios to the group's fastest within {target['ratio_error']:.0%} | {within} of {len(entries)} | all | "
                  f"{_verdict(within == len(entries))} |"]
        rep = block.get("repeat")
        if rep:
            floor, mean = rep["between_passes"], rep["accuracy_mean"]
            lines += [f"| the same jobs measured again later: first pass against the second (MAPE) | "
                      f"{floor['iteration_mape']:.1%} | | the host's noise floor |",
                      f"| iteration time MAPE against the mean of both passes | {mean['iteration_mape']:.1%} | "
                      f"<= {target['iteration_mape']:.0%} | {_verdict(mean['iteration_mape'] <= target['iteration_mape'])} |",
                      f"| stage errors within {target['stage_error']:.0%} against the mean of both passes | "
                      f"{mean['stage_errors_within_target']} of {mean['stage_errors_total']} | all | "
                      f"{_verdict(mean['stage_errors_within_target'] == mean['stage_errors_total'])} |"]
        lines += ["", "Per-stage MAPE (mean signed error in brackets): " + _stage_mapes(acc) + ".", "",
                  "| group | measured order | predicted order | order kept | ratios to the fastest, measured / "
                  "predicted (error) |", "|---|---|---|---|---|"]
        by_group = {r["group"]: r for r in block["ratios"]}
        for g in block["rankings"]:
            if not g.get("compared"):
                lines.append(f"| {g['group']} | {g['reason']} | | | |")
                continue
            cells = ", ".join(f"{e['member']} {e['measured']:.2f}x / {e['predicted']:.2f}x ({_pct(e['error'])})"
                              for e in by_group.get(g["group"], {}).get("ratios", []))
            lines.append(f"| {g['group']} | {' < '.join(g['measured_order'])} | {' < '.join(g['predicted_order'])} | "
                         f"{'yes' if g['order_kept'] else '**no**'} | {cells} |")
        lines += ["", f"The {name} scenarios' rows are in the tables below, marked *({name})*."]
    return lines
