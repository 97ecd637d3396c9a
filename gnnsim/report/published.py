"""The published-runs report: PUBLISHED.md and a predicted-against-measured plot.

Reads the JSON that :func:`gnnsim.validation.published.rows_json` builds, so the
Markdown and the plot can be drawn again from a saved ``published.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gnnsim.workload.builder import STAGES

UNITS = {"epoch_time_s": "s/epoch", "sampling_time_ms_per_batch": "ms/batch", "throughput_samples_per_s": "samples/s"}


def signed(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.0f}%"


def share(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Most records first, ties by name: the same order from a run and from a saved JSON."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def markdown(data: dict[str, Any]) -> str:
    s, meta, rows = data["summary"], data["meta"], data["records"]
    cov = s["coverage"]
    lines = [
        "# Published GPU runs, predicted from the catalog",
        "",
        f"`{meta['command']}` on {meta['date']} (gnnsim {meta['commit']}, {meta['records_file']}).",
        "Every prediction uses datasheet profiles from `hwprofiles/` only, never a calibration of the machine that ran",
        "it. Nothing in the model is fitted to these times. Errors are `predicted time / measured time - 1` (a",
        "throughput is compared as time per sample). Records that name no hardware run on a stand-in and count",
        "only through their ratios to the first predicted record of their group.",
        "",
        "## Summary",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| records | {s['records']}: {cov['expressible']} expressible, {cov['partial']} with named approximations, "
        f"{cov['not expressible']} not expressible, {cov['failed']} failed |",
        f"| predicted with named hardware | {s['named_hardware_predicted']} |",
        f"| median absolute error (named hardware) | {share(s['median_abs_error'])} |",
        f"| median signed error (named hardware) | {signed(s['median_signed_error'])} |",
        f"| within 20% / within 50% | {share(s['within_20'])} / {share(s['within_50'])} |",
        f"| ratio groups with 2+ predictions | {s['groups_scored']}; in measured order: {s['groups_in_order']} |",
        f"| ratios to the group's first record | median error {share(s['ratio_median_abs_error'])}, "
        f"within 25%: {share(s['ratios_within_25'])} |",
        "",
        "![predicted against measured](published.png)",
        "",
        "## What gnnsim cannot express yet (the roadmap)",
        "",
        "Each line is one missing capability and the number of records it keeps out "
        "(a record can lack several).",
        "",
        "| missing capability | records |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in _by_count(s["missing_capabilities"])] or ["| (none) | 0 |"]
    lines += ["", "Approximations taken in the predicted records:", "", "| approximation | records |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in _by_count(s["approximations"])] or ["| (none) | 0 |"]
    lines += ["", "## Per record", "",
              "| id | group | measured | predicted | error | predicted bottleneck | time to predict |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["predicted"] is None:
            continue
        unit = UNITS.get(r["metric"], "")
        hw = "" if r["named_hardware"] else " (stand-in)"
        lines.append(f"| {r['id']} | {r['group'] or ''} | {_num(r['measured'])} {unit} | {_num(r['predicted'])} "
                     f"{unit} | {signed(r['error'])}{hw} | {r['bottleneck']} | {r['predict_s']:.1f} s |")
    lines += _breakdown_table(rows)
    lines += ["", "## Ratio groups", "",
              "| group | predicted / records | Spearman rho | ratios (measured -> predicted, error) |",
              "| --- | --- | --- | --- |"]
    for g in s["groups"]:
        rho = f"{g['spearman_rho']:+.2f}" if "spearman_rho" in g else "n/a"
        ratios = "; ".join(f"{x['id']}/{g['reference']}: {x['measured']:.2f} -> {x['predicted']:.2f} "
                           f"({signed(x['error'])})" for x in g.get("ratios", []))
        lines.append(f"| {g['group']} | {g['predicted']} / {g['records']} | {rho} | {ratios} |")
    lines += ["", "## Not predicted", "", "| id | why |", "| --- | --- |"]
    lines += [f"| {r['id']} | {'; '.join(r['missing']) or 'expressible; left out of this run'} |"
              for r in rows if r["predicted"] is None]
    lines += ["", "## Approximations per predicted record", ""]
    lines += [f"- **{r['id']}**: {'; '.join(r['approximations']) or 'none'}" for r in rows if r["predicted"] is not None]
    lines += ["", "Every scenario used is in `published.json` (`records[].scenario`); rerun one with",
              "`gnnsim simulate` after saving it as YAML, or with `gnnsim published RUNS.jsonl --only ID`.", ""]
    return "\n".join(lines)


def _breakdown_table(rows: list[dict[str, Any]]) -> list[str]:
    """Each predicted record's iteration by stage (ms per trainer): which stage a miss must be in."""
    shown = [r for r in rows if r["predicted"] is not None and r.get("breakdown_ms")]
    if not shown:
        return []
    stages = [st for st in STAGES if any(r["breakdown_ms"].get(st) for r in shown)]
    lines = ["", "Predicted iteration by stage (ms per trainer; stages overlap, so they need not add up to the "
             "iteration):", "", "| id | iteration | " + " | ".join(stages) + " |",
             "| --- | --- | " + " | ".join("---" for _ in stages) + " |"]
    for r in shown:
        it = f"{r['iteration_s'] * 1e3:.2f}" if r.get("iteration_s") else ""
        cells = [f"{r['breakdown_ms'][st]:.2f}" if r["breakdown_ms"].get(st) else "" for st in stages]
        lines.append(f"| {r['id']} | {it} | " + " | ".join(cells) + " |")
    return lines


def plot(data: dict[str, Any], path: str | Path) -> None:
    """Predicted against measured, log-log, a point per record, with the 20% band."""
    from gnnsim.report.plots import _pyplot

    plt = _pyplot()
    rows = [r for r in data["records"] if r["predicted"] is not None]
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    marks = {"epoch_time_s": "o", "sampling_time_ms_per_batch": "s", "throughput_samples_per_s": "^"}
    values = []
    for named, color, label in ((True, "#1f4e9c", "named hardware"), (False, "#b0b0b0", "stand-in (ratio only)")):
        pts = [r for r in rows if r["named_hardware"] == named]
        for r in pts:
            inv = r["metric"] == "throughput_samples_per_s"
            m, p = (1 / r["measured"], 1 / r["predicted"]) if inv else (r["measured"], r["predicted"])
            values += [m, p]
            ax.scatter(m, p, c=color, marker=marks.get(r["metric"], "o"), edgecolors="black", linewidths=0.4,
                       label=label if r is pts[0] else None, zorder=3)
            ax.annotate(r["id"].split("-")[-1], (m, p), fontsize=6, xytext=(3, 2), textcoords="offset points")
    if values:
        lo, hi = min(values) / 2, max(values) * 2
        xs = [lo, hi]
        ax.plot(xs, xs, color="black", lw=0.8)
        ax.fill_between(xs, [x * 0.8 for x in xs], [x * 1.2 for x in xs], color="#4c72b0", alpha=0.15,
                        label="within 20%")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured time (s per epoch, or per batch / sample)")
    ax.set_ylabel("predicted time")
    ax.set_title("gnnsim against published runs (catalog profiles only)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    fig.tight_layout()
    from gnnsim.outputs import write_atomic_with

    write_atomic_with(path, lambda fh: fig.savefig(fh, format="png", dpi=120), binary=True)
    plt.close(fig)
