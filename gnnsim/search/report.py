"""A search's result as text, JSON and CSV.

The text is what ``gnnsim search`` prints: the chosen point, the ranked table (the
candidates first, then points that miss a limit, do not fit in GPU memory, or failed),
and the Pareto front of epoch time against cost. JSON and CSV carry every point.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gnnsim.search.api import SearchResult
    from gnnsim.search.rank import Row

GIB = 2**30
ERROR_WIDTH = 90  # characters of an error in the table (--json and --csv hold all of it)


def fmt_s(t: float) -> str:
    return f"{t:.3f} s" if t >= 1 else f"{t * 1e3:.2f} ms"


def fmt_usd(x: float) -> str:
    return f"${x:.4f}" if x < 100 else f"${x:,.0f}"


def label(settings: dict[str, str]) -> str:
    """``key=value, ...`` with each key's last part (``batch_size=512, profile=a100``)."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in settings.items())


def memory_cell(row: Row) -> str:
    mem = row.record.get("memory")
    if row.status != "ok" or not mem:
        return "-"
    text = f"{mem['peak_bytes'] / GIB:.1f}/{mem['capacity_bytes'] / GIB:.0f} GiB"
    return text if row.fits else f"OOM {text}"


def note_cell(row: Row) -> str:
    if row.status != "ok":
        error = row.record.get("error", "failed")
        return error if len(error) <= ERROR_WIDTH else error[:ERROR_WIDTH - 3] + "..."
    notes = (["front"] if row.on_front else []) + (["does not fit"] if not row.fits else []) + row.violations
    return ", ".join(notes)


def bottleneck_cell(row: Row) -> str:
    b = row.record.get("bottleneck") if row.status == "ok" else None
    return f"{b['stage']} on {b['resource']} ({b['share']:.0%})" if b else ""


def table_text(result: SearchResult, top: int | None = 20) -> str:
    keys = list(result.axes)
    rows = result.table if not top else result.table[:top]
    runs = result.epochs is not None
    head = ["rank", *keys, "epoch", "$/epoch", *([f"$/{result.epochs} epochs"] if runs else []), "GPU memory",
            "bottleneck", "notes"]
    body = []
    for r in rows:
        ok = r.status == "ok"
        body.append([str(r.rank) if r.rank else "-", *(r.settings[k] for k in keys),
                     fmt_s(r.epoch_time_s) if ok else "-", fmt_usd(r.cost_per_epoch_usd) if ok else "-",
                     *([fmt_usd(r.cost_per_run_usd) if ok else "-"] if runs else []), memory_cell(r),
                     bottleneck_cell(r), note_cell(r)])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = {0, len(keys) + 1, len(keys) + 2} | ({len(keys) + 3} if runs else set())
    lines = ["  ".join((c.rjust(w) if i in right else c.ljust(w)) for i, (c, w) in enumerate(zip(line, widths))
                       ).rstrip() for line in [head, *body]]
    if top and len(result.table) > top:
        lines.append(f"... {len(result.table) - top} more (--top 0 prints every point; --json and --csv hold them all)")
    return "\n".join(lines)


def summary_text(result: SearchResult, top: int | None = 20) -> str:
    rows = result.table
    failed = sum(r.status != "ok" for r in rows)
    too_big = sum(r.status == "ok" and not r.fits for r in rows)
    limits = [f"epoch <= {result.max_epoch_s:g} s"] if result.max_epoch_s is not None else []
    if result.max_cost is not None:
        limits.append(f"cost <= ${result.max_cost:g} {'per run' if result.epochs else 'per epoch'}")
    sampled = f" (a sample of {result.grid_size})" if len(rows) < result.grid_size else ""
    out = [f"search {result.scenario}: {len(rows)} points{sampled}, {result.simulated} simulated, "
           f"{result.resumed} from the results file; objective: {result.objective}"
           + (f"; limits: {', '.join(limits)}" if limits else "")]
    if too_big or failed:
        out.append(f"{too_big} do not fit in GPU memory, {failed} failed")
    out += ["", table_text(result, top), ""]
    c = result.chosen
    if c is not None:
        extra = f", {fmt_usd(c.cost_per_run_usd)} for {result.epochs} epochs" if result.epochs else ""
        out.append(f"chosen: {label(c.settings)}: {fmt_s(c.epoch_time_s)} per epoch, "
                   f"{fmt_usd(c.cost_per_epoch_usd)} per epoch{extra}; bottleneck {bottleneck_cell(c)}")
    out.append(f"Pareto front (epoch time against cost per epoch, points that fit), {len(result.front)} points:")
    for r in result.front:
        mark = "  <- chosen" if c is not None and r.index == c.index else ""
        out.append(f"  {fmt_s(r.epoch_time_s):>10}  {fmt_usd(r.cost_per_epoch_usd):>10}  {label(r.settings)}{mark}")
    if any(r.status == "ok" and r.record.get("extrapolated") for r in rows):
        out.append("epoch times are extrapolated from the simulated iterations (--json has each 95% interval)")
    return "\n".join(out)


def to_dict(result: SearchResult) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "axes": result.axes,
        "objective": result.objective,
        "max_epoch_s": result.max_epoch_s,
        "max_cost": result.max_cost,
        "epochs": result.epochs,
        "grid_size": result.grid_size,
        "points": len(result.table),
        "simulated": result.simulated,
        "resumed": result.resumed,
        "chosen": result.chosen.index if result.chosen is not None else None,
        "front": [r.index for r in result.front],
        "table": [r.to_dict() for r in result.table],
    }


def to_csv(result: SearchResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(result.axes)
    w.writerow(["rank", "point", *keys, "status", "epoch_time_s", "iteration_time_s", "cost_per_epoch_usd",
                "cost_per_run_usd", "fits_memory", "peak_memory_bytes", "capacity_bytes", "on_front", "violations",
                "bottleneck_stage", "bottleneck_resource", "bottleneck_share", "error"])
    for r in result.table:
        rec, ok = r.record, r.status == "ok"
        mem = rec.get("memory") or {}
        b = rec.get("bottleneck") or {}
        w.writerow([r.rank or "", r.index, *(r.settings[k] for k in keys), r.status,
                    f"{rec['epoch_time_s']:.9g}" if ok else "", f"{rec['iteration_time_s']:.9g}" if ok else "",
                    f"{rec['cost_per_epoch_usd']:.6g}" if ok else "",
                    f"{r.cost_per_run_usd:.6g}" if r.cost_per_run_usd is not None else "",
                    r.fits if ok else "", mem.get("peak_bytes", ""), mem.get("capacity_bytes", ""), r.on_front,
                    "; ".join(r.violations), b.get("stage", ""), b.get("resource", ""),
                    f"{b['share']:.4f}" if "share" in b else "", rec.get("error", "")])
    return buf.getvalue()
